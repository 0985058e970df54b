"""What the research entry points share: numbers checked as they are parsed (finite, within their range), and
one line, exit 2, for every error they know, as the product's CLI does (never a traceback for bad input)."""
from __future__ import annotations

import argparse
import math
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

from geotrans.errors import GeotransError, one_line
from geotrans.training.sources import MixError


def number(kind: type = float, low: Optional[float] = None, high: Optional[float] = None,
           low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite ``kind`` (int or float) within [``low``, ``high``] (either end left out with
    ``low_open``/``high_open``); anything else is argparse's one-line error naming the range."""
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    span = f"{left}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{right}"
    noun = "a whole number" if kind is int else "a number"

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{noun} in {span}, not {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value) or \
                low is not None and (value < low or low_open and value == low) or \
                high is not None and (value > high or high_open and value == high):
            raise argparse.ArgumentTypeError(f"{noun} in {span}, not {text!r}")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in its messages
    return convert


@contextmanager
def one_line_errors(parser: argparse.ArgumentParser) -> Iterator[None]:
    """Bad input met while the command runs (a model, a checkpoint, a mix, a file that is not there) ends it in
    one line (argparse's ``error``, exit 2), as bad options do."""
    try:
        yield
    except (GeotransError, MixError, OSError) as err:
        parser.error(one_line(err))
