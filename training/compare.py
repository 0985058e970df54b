"""Evaluations side by side: ``python -m training.compare NAME=EVAL.json ...``.

Reads the reports ``python -m training.evaluate --json`` writes and prints their summary rows
(``training.evaluate.summary_rows``) as one column per report. The first is the baseline: every other
cell shows its change from it, marked ``+`` where it is better and ``-`` where it is worse.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from training.evaluate import summary_rows

LOWER_IS_BETTER = ("as water",)  # rows whose figure is an error share


def lower_is_better(row: str) -> bool:
    return any(word in row for word in LOWER_IS_BETTER)


def comparison(reports: dict[str, dict]) -> list[tuple[str, list[Optional[float]]]]:
    """(row, one value per report) for every summary row of any report, in the order they first appear."""
    tables = {name: dict(summary_rows(report)) for name, report in reports.items()}
    rows: list[str] = []
    for table in tables.values():
        rows += [row for row in table if row not in rows]
    return [(row, [table.get(row) for table in tables.values()]) for row in rows]


def verdict(row: str, value: Optional[float], baseline: Optional[float]) -> str:
    """``+`` better than the baseline, ``-`` worse, ``=`` equal; blank where either is missing or the row is an
    indented reference figure (a floor), which is neither better nor worse."""
    if value is None or baseline is None or row.startswith(" "):
        return " "
    if value == baseline:
        return "="
    return "+" if (value < baseline) == lower_is_better(row) else "-"


def format_comparison(reports: dict[str, dict]) -> str:
    names = list(reports)
    rows = comparison(reports)
    width = max(len(row) for row, _ in rows)
    cell = max(18, *(len(n) + 2 for n in names))
    lines = [" " * width + "".join(f"{n:>{cell}}" for n in names)]
    for row, values in rows:
        base = values[0]
        cells = [f"{'-' if base is None else format(base, '.3f'):>{cell}}"]
        for value in values[1:]:
            text = "-" if value is None else format(value, ".3f")
            if value is not None and base is not None:
                text += f" ({value - base:+.3f}){verdict(row, value, base)}"
            cells.append(f"{text:>{cell}}")
        lines.append(f"{row:<{width}}" + "".join(cells))
    return "\n".join(lines)


def parse_named(arg: str) -> tuple[str, Path]:
    name, sep, path = arg.partition("=")
    return (name, Path(path)) if sep else (Path(arg).stem, Path(arg))


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", metavar="NAME=EVAL.json",
                        help="evaluation reports (training.evaluate --json), the baseline first")
    args = parser.parse_args(argv)
    reports = {}
    for arg in args.reports:
        name, path = parse_named(arg)
        try:
            reports[name] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            sys.exit(f"error: {path}: not a readable evaluation report ({exc.__class__.__name__})")
        if not isinstance(reports[name], dict) or not summary_rows(reports[name]):
            sys.exit(f"error: {path}: holds no figures of training.evaluate")
    print(format_comparison(reports))


if __name__ == "__main__":
    main()
