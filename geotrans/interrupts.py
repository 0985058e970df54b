"""Ctrl-C (or SIGTERM) while the CLI, torch and the pipeline are imported.

Two reasons to note the stop signals there rather than act on them, and to
raise the interrupt once the import has ended:

- torch's import calls back into Python from C++ (pybind11), and a
  KeyboardInterrupt raised there aborts the process (SIGABRT) instead of
  unwinding;
- imports make dataclasses and namedtuples with exec() and eval() of source,
  and a KeyboardInterrupt that leaves one marks the interpreter as killed by
  Ctrl-C: under ``python -m`` it then exits by SIGINT, not with the CLI's 130,
  even though the CLI caught it.

So everything the commands run is imported inside the deferral
(``geotrans.cli.console.import_pipeline``), and nothing after it compiles source.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

# Besides Ctrl-C: SIGTERM (how the QGIS plugin cancels), SIGHUP (a closed SSH session or terminal) and
# Ctrl-Break on Windows.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGBREAK") if hasattr(signal, name))
DEFERRED_SIGNALS = (signal.SIGINT, *STOP_SIGNALS)


@contextmanager
def deferred_interrupt() -> Iterator[list]:
    """Note the stop signals instead of acting on them while the block runs; the yielded list holds those noted."""
    noted: list = []
    previous = {stop: signal.signal(stop, lambda signum, frame: noted.append(signum)) for stop in DEFERRED_SIGNALS}
    try:
        yield noted
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


T = TypeVar("T")


def interruptible(call: Callable[[], T], poll_s: float = 0.1) -> T:
    """``call()`` in a daemon thread, waited for here in short joins, so that Ctrl-C and the stop signals act at
    once even while it is blocked in C (GDAL reading a network source that never answers): the wait raises
    KeyboardInterrupt and the call is abandoned with the process. Its result or exception is passed on."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = err

    worker = threading.Thread(target=run, name="geotrans-interruptible", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(poll_s)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
