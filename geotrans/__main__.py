"""``python -m geotrans`` and the ``geotrans`` command.

The entry point imports the CLI (and with it torch, which takes a second or
two) inside a guard, so Ctrl-C at any moment exits 130 without a traceback.
"""
import os
import signal
import sys


def entry() -> None:
    try:
        from geotrans.cli import main
    except KeyboardInterrupt:
        # Nothing is written yet. Exit at once: an import cut short can make Python's own shutdown
        # re-raise the interrupt (exit by SIGINT instead of 130).
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
