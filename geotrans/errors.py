"""Errors a user can act on. Each message is one line; the CLI prints it without a traceback."""


def one_line(err: BaseException) -> str:
    """An exception's message folded onto one line (library messages may span several)."""
    return " ".join(str(err).split())


class GeotransError(Exception):
    """Base class: bad input, bad model, refused output."""


class InputError(GeotransError):
    """The source scene cannot be read or is not supported."""


class ModelError(GeotransError):
    """The model file is missing, unsafe or not a geotrans generator."""


class NoModelError(ModelError):
    """No trained model is installed and none was given."""


class OutputError(GeotransError):
    """The output path is refused (exists, is the input, or cannot be written)."""
