"""TrainConfig is the one source of every training option: the research command line is built from its fields,
and each value is checked once, by the field's own check."""
from __future__ import annotations

import argparse
import math
from dataclasses import fields

import pytest

from geotrans.training.config import TrainConfig, add_options, from_arguments, resumed_config


def parser(config_class: type = TrainConfig) -> argparse.ArgumentParser:
    built = argparse.ArgumentParser(prog="t")
    add_options(built, config_class)
    return built


@pytest.mark.parametrize("research", [False, True])
def test_every_option_the_command_line_offers_is_a_field_with_its_help(research):
    from training.research import ResearchConfig

    config_class = ResearchConfig if research else TrainConfig
    flags = {a.dest: a for a in parser(config_class)._actions if a.dest != "help"}
    offered = {f.name for f in fields(config_class) if f.metadata["cli"]}
    assert set(flags) == offered
    assert all(flags[name].help for name in offered)
    recorded = {f.name for f in fields(config_class) if f.metadata["role"] == "recorded"}
    assert recorded == {"water_rgb", "class_rgb", "init_sha256", "init_ngf"} | ({"building_rgb", "green_rgb", "street_rgb"} if research else set())
    assert not recorded & set(flags)
    experiments = {"water_coloured", "water_texture", "lambda_dry", "building_weight", "class_on"}
    assert experiments <= set(flags) if research else not experiments & set(flags)


def _outside(check) -> list[str]:
    """Values just outside a field's range, and nan."""
    values = ["nan"]
    if check.low is not None:
        values.append(repr(check.low) if check.low_open else repr(check.low - 1))
    if check.high is not None:
        values.append(repr(check.high) if check.high_open else repr(check.high + 1))
    return values


def test_every_checked_field_is_refused_out_of_range_by_the_config_and_the_command_line(capsys):
    checked = [f for f in fields(TrainConfig) if f.metadata["check"] is not None]
    assert len(checked) >= 15
    for f in checked:
        kind = int if "int" in str(f.type) else float
        for text in _outside(f.metadata["check"]):
            value = float(text) if kind is float or text == "nan" else int(float(text))
            if kind is int and isinstance(value, float) and math.isnan(value):
                continue  # an int field cannot hold nan: the parser refuses it below
            with pytest.raises(ValueError, match=f"{f.name} must be"):
                TrainConfig(data="d", out="o", **{f.name: value})
            if f.metadata["cli"]:
                with pytest.raises(SystemExit):
                    parser().parse_args(["--data", "d", "--out", "o", f"--{f.name.replace('_', '-')}", text])
                assert "not" in capsys.readouterr().err


def test_a_choice_outside_its_choices_is_one_line():
    from training.research import ResearchConfig

    with pytest.raises(ValueError, match="class_on is one of all, rendered"):
        ResearchConfig(data="d", out="o", class_on="labels")
    with pytest.raises(ValueError, match="dark_of is one of land, vegetation"):
        TrainConfig(data="d", out="o", dark_of="water")


def test_a_resumed_run_keeps_what_is_fixed_takes_the_schedule_and_changes_only_the_recipe_given():
    stored = TrainConfig(data="old", out="run", epochs=10, ngf=32, lr=1e-4, lambda_fm=10.0, jitter=0.2, seed=3)
    args = parser().parse_args(["--data", "new", "--out", "run", "--epochs", "20", "--lr", "5e-4", "--jitter", "0.1"])
    given = from_arguments(args)
    resumed = resumed_config(stored, given, {"jitter": args.jitter})
    assert (resumed.data, resumed.epochs) == ("new", 20)  # run and schedule: this invocation's
    assert (resumed.ngf, resumed.lr, resumed.seed) == (32, 1e-4, 3)  # fixed: the stored run's
    assert (resumed.jitter, resumed.lambda_fm) == (0.1, 10.0)  # recipe: changed only where given
    assert from_arguments(parser().parse_args(["--data", "d", "--out", "o"])) == TrainConfig(data="d", out="o")
