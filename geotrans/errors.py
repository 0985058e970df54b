"""Errors a user can act on. Each message is one line; the CLI prints it without a traceback.

Messages say what is wrong in the library's terms; ``hint`` (optional) says what
to do, and may name a command-line flag, which the CLI prints after the message.
"""
from __future__ import annotations

from typing import Optional


def one_line(err: BaseException) -> str:
    """An exception's message folded onto one line (library messages may span several)."""
    return " ".join(str(err).split())


class GeotransError(Exception):
    """Base class: bad input, bad model, refused output."""

    def __init__(self, message: str, hint: Optional[str] = None):
        super().__init__(message)
        self.hint = hint


class InputError(GeotransError, ValueError):
    """The source scene or an option cannot be used (a ValueError, as rasterio's input errors are)."""


class ModelError(GeotransError):
    """The model file is missing, unsafe or not a geotrans generator."""


class NoModelError(ModelError):
    """No trained model is installed and none was given."""


class OutputError(GeotransError, OSError):
    """The output path is refused or cannot be written (an OSError, as rasterio's write errors are)."""


class DiskFullError(OutputError):
    """The disk filled up while writing: every following write there would fail too."""


class OutputBusyError(OutputError):
    """Another live run holds the output's lock."""
