"""Ctrl-C (or SIGTERM) while torch is being imported.

torch's import calls back into Python from C++ (pybind11), and a
KeyboardInterrupt raised there aborts the process (SIGABRT) instead of
unwinding. So torch, and the CLI, are imported with the stop signals noted
rather than acted on, and the interrupt is raised once the import has ended.
"""
from __future__ import annotations

import importlib
import signal
from contextlib import contextmanager
from typing import Iterator

# Besides Ctrl-C: SIGTERM (how the QGIS plugin cancels) and Ctrl-Break on Windows.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGBREAK") if hasattr(signal, name))
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


def import_torch() -> None:
    """Import torch (a second or two) with the stop signals deferred; one noted meanwhile raises
    KeyboardInterrupt when the import ends."""
    with deferred_interrupt() as noted:
        importlib.import_module("torch")
    if noted:
        raise KeyboardInterrupt
