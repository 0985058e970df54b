"""What the commands share around the library call: the error boundary (a library error is one line and
exit 1, an interrupt exit 130), logging set up once per command, progress as a bar or JSON lines, and the
pipeline imported with the stop signals deferred.
"""
from __future__ import annotations

import json
import logging
import signal
import sys
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Callable, Iterator, Optional

import click
from tqdm import tqdm

from geotrans.cli.options import flag_of
from geotrans.errors import GeotransError, one_line
from geotrans.interrupts import STOP_SIGNALS, deferred_interrupt
from geotrans.io.targets import is_geotrans_log


@contextmanager
def error_boundary(verbose: int = 0, interrupted: str | Callable[[], str] = "interrupted") -> Iterator[None]:
    """Library error -> one line and exit 1; Ctrl-C or SIGTERM -> ``interrupted`` (or what it returns, said
    when the interrupt comes: what was kept) and exit 130;
    anything else -> one line naming an internal error (its traceback with -v)."""
    # SIGTERM (and Ctrl-Break on Windows, how the QGIS plugin cancels there) unwinds like Ctrl-C: temp files go.
    previous = {stop: signal.signal(stop, _raise_interrupt) for stop in STOP_SIGNALS}
    try:
        yield
    except GeotransError as err:
        hint = err.said_hint(flag_of)  # the options a library error names, as the flags that set them
        raise click.ClickException(one_line(err.said(flag_of)) + (f"; {hint}" if hint else "")) from None
    except KeyboardInterrupt:
        click.echo(f"geotrans: {interrupted() if callable(interrupted) else interrupted}", err=True)
        sys.exit(130)
    except click.exceptions.Exit:
        raise
    except Exception as err:  # a bug: one line unless -v asks for the traceback
        if verbose:
            raise
        raise click.ClickException(f"internal error: {type(err).__name__}: {one_line(err)} "
                                   "(run with -v for the traceback)") from None
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)
    failed = log_file_failure()
    if failed:  # the work is done, but the record the user asked for is not: never a silent success
        raise click.ClickException(failed)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def import_pipeline(dask: bool = False) -> None:
    """Import torch and the library the commands call, and with ``dask`` Dask's distributed where installed,
    with the stop signals deferred (``geotrans.interrupts``); one noted meanwhile raises KeyboardInterrupt when
    the imports end. The commands import from these modules only after this call."""
    with deferred_interrupt() as noted:
        import torch  # noqa: F401

        import geotrans.jobs.folder  # noqa: F401
        import geotrans.jobs.preflight  # noqa: F401
        import geotrans.jobs.scene  # noqa: F401
        import geotrans.qgis.install  # noqa: F401
        import geotrans.run.info  # noqa: F401
        if dask:
            with suppress(ImportError):  # the run then says how to install it
                import distributed  # noqa: F401
    if noted:
        raise KeyboardInterrupt


log = logging.getLogger("geotrans")


class JsonLogLine(logging.Formatter):
    """A log record as one JSON line (``--progress json``): {"log": "warning", "message": "..."}."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"log": record.levelname.lower(), "message": record.getMessage()})


class LogFile(logging.FileHandler):
    """--log's file: a record it cannot write (a full disk) is remembered, not printed as Python's "--- Logging
    error ---" and forgotten; the command then ends saying so, with exit 1 (``log_file_failure``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.failure: Optional[str] = None

    def handleError(self, record: logging.LogRecord) -> None:
        err = sys.exc_info()[1]
        if self.failure is None:
            self.failure = f"{self.baseFilename}: the log could not be written ({one_line(err) if err else 'error'})"


def log_file_failure() -> Optional[str]:
    """What went wrong writing --log's file, if anything did (one line, with what was still done)."""
    for handler in log.handlers:
        if isinstance(handler, LogFile) and handler.failure:
            failure, handler.failure = handler.failure, None  # said once
            return failure + "; the command's own work finished, its log is incomplete"
    return None


class OneLinePerScene(logging.Filter):
    """A folder run's terminal without -v: one line per scene (its outcome, from ``geotrans.jobs``), the run's
    own facts once (model, device, precision), warnings and errors; a scene's details (its grid, windows,
    speed) only in --log and with -v."""

    ONCE = ("geotrans.model", "geotrans.run.runner")

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or record.name.startswith("geotrans.jobs"):
            return True
        if record.name.startswith(self.ONCE):
            message = record.getMessage()
            first = message not in self.seen
            self.seen.add(message)
            return first
        return False


def setup_logging(verbose: int, quiet: bool, log_file: Optional[str] = None, json_lines: bool = False,
                  scene_details: bool = True) -> None:
    """Log lines on stderr (and in ``log_file``, in full); without ``scene_details`` (a folder run) and
    without -v, the terminal gets one line per scene (``OneLinePerScene``)."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogLine() if json_lines else logging.Formatter("geotrans: %(message)s"))
    if not scene_details and not verbose:
        handler.addFilter(OneLinePerScene())
    log.handlers[:] = [handler]
    if log_file:
        try:
            # appended to a geotrans log; anything else was let through only by --overwrite, and is replaced
            to_file = LogFile(log_file, mode="a" if is_geotrans_log(Path(log_file)) else "w")
        except OSError as err:
            raise click.ClickException(f"{log_file}: cannot write the log there ({err.strerror})") from None
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        to_file.setLevel(logging.DEBUG if verbose else logging.INFO)
        log.addHandler(to_file)
        handler.setLevel(level)
        level = min(level, to_file.level)
    log.setLevel(level)
    log.propagate = False
    _route_gdal_messages(log.handlers if verbose else [])


def _route_gdal_messages(handlers: list[logging.Handler]) -> None:
    """GDAL's messages (rasterio logs them) reach the user inside geotrans's own one-line errors; on their
    own they are shown only with -v, never as bare lines through Python's last-resort handler."""
    gdal = logging.getLogger("rasterio")
    gdal.handlers[:] = [*handlers] or [logging.NullHandler()]
    gdal.propagate = False


class JsonProgress:
    """tqdm's ``reset``/``update`` as one JSON line per update on stderr (``--progress json``), for programs
    such as a QGIS provider: {"progress": "tiles", "done": 12, "total": 25}."""

    def __init__(self, unit: str):
        self.unit, self.n, self.total = unit, 0, 0

    def __enter__(self) -> "JsonProgress":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def reset(self, total: Optional[int] = None) -> None:
        self.n, self.total = 0, total or 0
        self._emit()

    def update(self, n: int = 1) -> None:
        self.n += n
        self._emit()

    def _emit(self) -> None:
        click.echo(json.dumps({"progress": self.unit, "done": self.n, "total": self.total}), err=True)


def progress_bar(unit: str, desc: str, quiet: bool, progress: str = "bar", position: int = 0):
    """The progress display: a tqdm bar on a terminal (none with -q), or JSON lines with ``--progress json``."""
    if progress == "json":
        return JsonProgress(unit)
    return tqdm(total=0, unit=unit, desc=desc, position=position, leave=position == 0, dynamic_ncols=True,
                disable=quiet or not sys.stderr.isatty())


def follow(bar):
    """A progress callback (tiles just finished, tiles in all) that drives ``bar``, scene after scene."""
    def progress(finished: int, total: int) -> None:
        if bar.total != total or bar.n >= total:
            bar.reset(total)
        bar.update(finished)
    return progress
