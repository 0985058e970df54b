"""What the research entry points share: numbers checked as they are parsed (finite, within their range), and
one line, exit 2, for every error they know, as the product's CLI does (never a traceback for bad input)."""
from __future__ import annotations

import argparse
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

from geotrans.errors import GeotransError, one_line
from geotrans.training.config import Range, argument_type
from geotrans.training.sources import MixError


def number(kind: type = float, low: Optional[float] = None, high: Optional[float] = None,
           low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite ``kind`` (int or float) within [``low``, ``high``] (either end left out with
    ``low_open``/``high_open``); anything else is argparse's one-line error naming the range."""
    return argument_type(kind, Range(low, high, low_open, high_open))


@contextmanager
def one_line_errors(parser: argparse.ArgumentParser) -> Iterator[None]:
    """Bad input met while the command runs (a model, a checkpoint, a mix, a file that is not there) ends it in
    one line (argparse's ``error``, exit 2), as bad options do."""
    try:
        yield
    except (GeotransError, MixError, OSError) as err:
        parser.error(one_line(err))
