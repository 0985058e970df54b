"""Errors a user can act on. Each message is one line; the CLI prints it without a traceback.

Messages say what is wrong in the library's terms; ``hint`` (optional) says what
to do, and may name a command-line flag, which the CLI prints after the message.
An option a message or hint names is written ``{name}`` with the name in
``options``: the library says the option's own name (``compile``), the CLI its
flag (``--compile``, by ``said``).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence


def one_line(err: BaseException) -> str:
    """An exception's message folded onto one line (library messages may span several)."""
    return " ".join(str(err).split())


class GeotransError(Exception):
    """Base class: bad input, bad model, refused output."""

    def __init__(self, message: str, hint: Optional[str] = None, options: Sequence[str] = ()):
        self.template, self.hint_template, self.options = message, hint, tuple(options)
        super().__init__(self.said())
        self.hint = self.said_hint()

    def __reduce__(self):  # a worker's error reaches the CLI with its hint and the options it names
        return type(self), (self.template, self.hint_template, self.options)

    def said(self, flags: Optional[Callable[[str], str]] = None) -> str:
        """The message with each option it names called ``flags(name)`` (default: the name itself)."""
        return _named(self.template, self.options, flags)

    def said_hint(self, flags: Optional[Callable[[str], str]] = None) -> Optional[str]:
        return None if self.hint_template is None else _named(self.hint_template, self.options, flags)


def _named(text: str, options: Sequence[str], flags: Optional[Callable[[str], str]]) -> str:
    for name in options:
        text = text.replace("{" + name + "}", name if flags is None else flags(name))
    return text


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
