"""``python -m geotrans`` and the ``geotrans`` command.

The entry point imports the CLI (and with it torch, which takes a second or
two) with Ctrl-C deferred, so Ctrl-C at any moment exits 130 without a
traceback: torch's import calls back into Python from C++ (pybind11), and a
KeyboardInterrupt raised there aborts the process (SIGABRT) instead of
unwinding. An interrupt noted during the import exits as soon as it ends.
"""
import os
import signal
import sys
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def deferred_interrupt() -> Iterator[list]:
    """Note Ctrl-C instead of raising it while the block runs; the yielded list holds the signals noted."""
    noted: list = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, previous)


def entry() -> None:
    with deferred_interrupt() as noted:
        from geotrans.cli import main
    if noted:
        # Nothing is written yet: exit at once, without Python's (and torch's) shutdown work.
        sys.stderr.write("geotrans: interrupted\n")
        sys.stderr.flush()
        os._exit(130)
    try:
        main(prog_name="geotrans")
    except SystemExit:
        # The command has finished (or refused): its exit code stands. A Ctrl-C during Python's own
        # shutdown would otherwise kill the process by SIGINT after a complete map was written.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise


if __name__ == "__main__":
    entry()
