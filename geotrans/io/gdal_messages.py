"""The errors GDAL signals, captured: some failures reach Python only as a log line from rasterio."""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Iterator

LOGGER = "rasterio"  # rasterio logs the errors GDAL signals under rasterio._env and rasterio._err


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.thread == self.thread and "signalled an error" in message:
            self.messages.append(message.split("msg=", 1)[-1].strip("'\""))


@contextmanager
def gdal_messages() -> Iterator[list[str]]:
    """Collect the messages of the errors GDAL signals in this thread while the block runs."""
    logger = logging.getLogger(LOGGER)
    collector, level = _Collector(), logger.level
    logger.addHandler(collector)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield collector.messages
    finally:
        logger.removeHandler(collector)
        logger.setLevel(level)


@contextmanager
def quiet_gdal() -> Iterator[None]:
    """Drop the errors GDAL signals in this thread while the block runs: for probes whose failure is an
    answer (is this file a raster?), not a problem to log."""
    thread = threading.get_ident()

    def keep(record: logging.LogRecord) -> bool:
        return record.thread != thread

    loggers = [logging.getLogger(f"{LOGGER}.{name}") for name in ("_env", "_err")]
    for logger in loggers:
        logger.addFilter(keep)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(keep)


def reason(messages: list[str], fallback: str, err: BaseException | None = None) -> str:
    """The most telling message: GDAL's own (first signalled, or the error's cause), not rasterio's
    'See previous exception'."""
    useful = [m for m in messages if "See previous" not in m]
    if useful:
        return useful[0]
    cause = getattr(err, "__cause__", None)
    return " ".join(str(cause).split()) if cause is not None else fallback
