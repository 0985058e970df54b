"""``python -m geotrans`` and the ``geotrans`` command.

The entry point imports the CLI with Ctrl-C deferred (``geotrans.interrupts``),
so Ctrl-C at any moment exits 130 without a traceback; the commands that run
the model import torch and the pipeline the same way. An interrupt noted during
the import exits as soon as it ends.
"""
import os
import signal
import sys

from geotrans.interrupts import deferred_interrupt


def entry() -> None:
    with deferred_interrupt() as noted:
        import difflib  # noqa: F401  click imports it (namedtuples, made by eval) to parse a short option

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
