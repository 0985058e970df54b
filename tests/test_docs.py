"""The README is a short front door, the manual builds without a broken link, and every geotrans command in
either is one the command line accepts as written."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "training" / "EXPERIMENTS.md"]


def commands(path: Path) -> list[str]:
    """Every ``geotrans ...`` line of the page's code blocks, continuation lines joined, comments dropped."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", path.read_text(), flags=re.S):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("geotrans "):
                found.append(line)
            elif "&& geotrans " in line:
                found.append("geotrans " + line.split("&& geotrans ", 1)[1])
    return found


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200
    for page in ("docs/using.md", "docs/folders.md", "docs/qgis.md", "docs/tuning.md", "docs/model.md",
                 "docs/troubleshooting.md"):
        assert f"]({page})" in "\n".join(lines), page


def test_every_test_the_docs_name_exists():
    """A promise backed by a test is backed only while the test is there: every ``tests/FILE.py::test_name`` and
    ``tests/FILE.py`` the README and the manual cite exists."""
    cited = {(file, name) for page in PAGES
             for file, name in re.findall(r"(tests/[a-z_]+\.py)(?:::(test_[a-z0-9_]+))?", page.read_text())}
    assert any(name for _, name in cited)
    missing = [f"{file}::{name}" if name else file for file, name in sorted(cited)
               if not (ROOT / file).exists() or name and not re.search(rf"^def {name}\(", (ROOT / file).read_text(),
                                                                         flags=re.M)]
    assert missing == []


def test_the_manual_builds_strictly():
    pytest.importorskip("mkdocs")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                           str(ROOT / "build" / "site")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def check_parses(line: str, where: str) -> None:
    """The command line ``line`` (``geotrans ...``) is one the CLI accepts, options and values alike."""
    import click

    from geotrans.cli import main

    words = shlex.split(line.split(" #", 1)[0])[1:]
    if not words or words[0].startswith("-"):
        return
    command, args = main, words
    while isinstance(command, click.Group) and args and args[0] in command.commands:
        command, args = command.commands[args[0]], args[1:]
    try:
        command.make_context(command.name, list(args), resilient_parsing=False)
    except click.exceptions.Exit:
        pass  # --help, --version
    except click.UsageError as err:
        raise AssertionError(f"{where}: {line!r}: {err.format_message()}") from None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_geotrans_command_in_the_docs_parses(page):
    for line in commands(page):
        check_parses(line, page.name)


@pytest.mark.parametrize("command", [[], ["run"], ["info"], ["tune"], ["vectorize"], ["qgis"], ["qgis", "install"],
                                     ["qgis", "uninstall"]])
def test_every_commands_help_fits_80_columns_and_cuts_nothing(command):
    from click.testing import CliRunner

    from geotrans.cli import main

    result = CliRunner().invoke(main, [*command, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    cut = [line for line in lines if line.rstrip().endswith("...") and "[ARGS]..." not in line
           and not line.rstrip().endswith("SCENES...")]
    assert not cut, cut  # a command list whose descriptions click had to cut short


def test_run_help_groups_its_options_as_the_manual_does_in_80_columns():
    from click.testing import CliRunner

    from geotrans.cli import main
    from geotrans.cli.run import RUN_OPTION_GROUPS

    result = CliRunner().invoke(main, ["run", "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    headings = [line[:-1] for line in lines if line.endswith(":") and not line.startswith(" ")]
    assert headings == list(RUN_OPTION_GROUPS)  # every option in a group: no "Other options"
    manual = (ROOT / "docs" / "using.md").read_text()
    assert [h for h in re.findall(r"^### (.+)$", manual, flags=re.M) if h in RUN_OPTION_GROUPS] == headings
    for name in ("--bands", "--cog", "--model", "--precision", "--scheduler", "--quiet", "--help"):
        assert sum(re.search(rf"(^|, ){name}\b", line.strip()) is not None for line in lines) == 1, name
    examples = [line.strip() for line in lines if line.strip().startswith("geotrans run ")]
    assert len(examples) >= 5
    for line in examples:
        check_parses(line, "geotrans run --help")


def test_every_page_is_in_the_manuals_table_of_contents():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs").glob("*.md"):
        assert f": {page.name}" in nav, page.name


def _row(page: Path, label: str) -> list[str]:
    """The cells of the table row of ``page`` that starts with ``label``, bold marks dropped."""
    for line in page.read_text().splitlines():
        if line.strip().startswith(f"| {label}"):
            return [cell.strip().strip("*") for cell in line.strip().strip("|").split("|")]
    raise AssertionError(f"{page.name}: no row {label!r}")


def test_the_readme_and_the_model_page_quote_the_shipped_card_s_figures():
    """One place for the model's figures: its card. The README's table and the model page say what it says, so
    a new model's card that is not carried into the pages fails here."""
    import json

    card = json.loads((ROOT / "geotrans" / "default_model" / "generator.json").read_text())
    val, this = card["val_metrics"], card["real_scene_metrics"]["this"]
    labelled = this["labelled_val"]
    readme = ROOT / "README.md"
    assert _row(readme, "New York, all 549 val pairs")[1:4] == [
        f"{val['v3']['psnr']:.2f} dB", f"{val['v4']['psnr']:.2f} dB", f"{val['deterministic']['psnr']:.2f} dB"]
    shipped = {  # the README's row: the shipped model's cell
        "New York, first 100 val pairs": f"{this['maps_val_first_100']['psnr']:.2f} dB",
        "Dakota NAIP: dry fields drawn as water": f"{100 * this['dakota_dry_land_as_water_iou_precision_recall'][0]:.1f}%",
        "Dakota NAIP: water IoU": "{1:.3f} ({2:.3f}, {3:.3f})".format(
            *this["dakota_dry_land_as_water_iou_precision_recall"]),
        "Korea: snowy conifer forest": f"{100 * this['korea_drawn_as_water']:.1f}%",
        "Las Vegas: road F1": "{0:.3f} ({1:.3f})".format(*this["vegas_road_f1_floor_precision_recall"]),
        "Dubai, held-out tile: water IoU / street IoU":
            f"{labelled['dubai']['water_iou']:.3f} / {labelled['dubai']['street_iou']:.3f}",
        "Dubai, held-out tile: green IoU": f"{labelled['dubai']['green_iou']:.3f}",
        "Chesapeake (West Virginia), held-out: forest IoU": f"{labelled['chesapeake-wv']['green_iou']:.3f}",
        "Massachusetts, held-out: street recall": f"{labelled['massachusetts-roads']['street_recall']:.3f}",
    }
    for label, cell in shipped.items():
        assert _row(readme, label)[3] == cell, label
    model_page = ROOT / "docs" / "model.md"
    assert _row(model_page, "v4 (v2 + 2000 steps")[5] == f"{val['v4']['psnr']:.2f} dB"
    assert _row(model_page, "**this model")[5] == f"{val['deterministic']['psnr']:.2f} dB"
    assert card["name"] in readme.read_text()


def test_no_page_names_an_older_model_as_the_shipped_one():
    """Pictures and figures of older models are not shown as the current model's: a page that calls a model
    "the shipped model" names the one the card ships (older ones are "shipped then")."""
    import json

    name = json.loads((ROOT / "geotrans" / "default_model" / "generator.json").read_text())["name"]
    version = name.rsplit("-", 1)[1]
    wrong = []
    for page in PAGES:
        text = " ".join(page.read_text().split())  # a phrase broken over lines reads as one
        for match in re.finditer(r"shipped model\W{0,3}(geotrans-maps-ngf\d+(?:-v\d+)?)", text):
            if match.group(1) != name:
                wrong.append(f"{page.name}: {match.group(0)}")
        for match in re.finditer(r"(?:the|first) shipped (?:model )?\(?`?(v\d+|geotrans-maps-ngf\d+\b(?!-))(?! then)",
                                 text):
            if match.group(1) not in (version, name):
                wrong.append(f"{page.name}: {match.group(0)}")
    assert wrong == []


def test_the_manual_s_front_page_links_every_page():
    index = (ROOT / "docs" / "index.md").read_text()
    missing = [page.name for page in (ROOT / "docs").glob("*.md") if page.name != "index.md"
               and f"]({page.name})" not in index]
    assert missing == []
