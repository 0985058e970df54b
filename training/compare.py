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

from training.evaluate import Figure, summary_rows


def comparison(reports: dict[str, dict]) -> list[tuple[Figure, list[Optional[float]]]]:
    """(figure, one value per report) for every summary figure of any report, in the order they first appear;
    the figure is the first report's that has it."""
    tables = {name: {f.name: f for f in summary_rows(report)} for name, report in reports.items()}
    figures: dict[str, Figure] = {}
    for table in tables.values():
        figures.update({name: f for name, f in table.items() if name not in figures})
    return [(f, [table[name].value if name in table else None for table in tables.values()])
            for name, f in figures.items()]


def verdict(figure: Figure, value: Optional[float], baseline: Optional[float]) -> str:
    """``+`` better than the baseline, ``-`` worse, ``=`` equal; blank where either is missing or the figure is
    a reference (a floor), which is neither better nor worse."""
    if value is None or baseline is None or figure.better is None:
        return " "
    if value == baseline:
        return "="
    return "+" if (value > baseline) == (figure.better == "higher") else "-"


def format_comparison(reports: dict[str, dict]) -> str:
    names = list(reports)
    rows = comparison(reports)
    width = max(len(f.name) for f, _ in rows)
    cell = max(18, *(len(n) + 2 for n in names))
    lines = [" " * width + "".join(f"{n:>{cell}}" for n in names)]
    for figure, values in rows:
        base = values[0]
        cells = [f"{'-' if base is None else format(base, '.3f'):>{cell}}"]
        for value in values[1:]:
            text = "-" if value is None else format(value, ".3f")
            if value is not None and base is not None:
                text += f" ({value - base:+.3f}){verdict(figure, value, base)}"
            cells.append(f"{text:>{cell}}")
        lines.append(f"{figure.name:<{width}}" + "".join(cells))
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
