"""Everything that defines a training run, as data: ``TrainConfig``, the one source of every training option.

Each field carries, as metadata, its help text, its check (a range or choices) and its role:

* ``run``: where the run reads and writes; ``schedule``: how long and how it computes (both taken from the
  invocation when a run resumes);
* ``fixed``: the networks, the optimiser, the data and the seed, fixed when the run starts (a resumed run
  keeps the stored ones);
* ``recipe``: the losses' weights and the augmentations, which a resumed run changes only where given again
  (a fine-tune);
* ``recorded``: what the run records when it starts (colours read from its mix's style, the warm start's hash),
  never an option.

The research command line (``training/train.py``) builds its parser from these fields (``add_options``) and
reads the config back from it (``from_arguments``); ``TrainConfig`` checks every value once, when it is made. A
new option is one field here and its test.
"""
from __future__ import annotations

import argparse
import logging
import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, Optional

from geotrans.model.choices import PRECISIONS
from geotrans.training.data import DARK_KINDS, Augment

log = logging.getLogger("geotrans.training")

CLASS_COLOURS = ("palette", "classes")  # what the class decision chooses among (``decision_colours``)
ROLES = ("run", "schedule", "fixed", "recipe", "recorded")


@dataclass(frozen=True)
class Range:
    """A number's allowed values: finite, in [low, high], either end open where said."""

    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False

    def __str__(self) -> str:
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        return f"{left}{'-inf' if self.low is None else f'{self.low:g}'}, " \
               f"{'inf' if self.high is None else f'{self.high:g}'}{right}"

    def holds(self, value: float) -> bool:
        return math.isfinite(value) and \
            (self.low is None or value > self.low or value == self.low and not self.low_open) and \
            (self.high is None or value < self.high or value == self.high and not self.high_open)


def option(default: Any, role: str, help: Optional[str] = None, check: Optional[Range] = None,
           choices: tuple = (), cli: bool = True, metavar: Optional[tuple] = None) -> Any:
    """A TrainConfig field: its default, role, help, check (``Range``) or ``choices``, whether the command
    line offers it (as ``--field-name``), and for a field of several numbers their names (``metavar``)."""
    assert role in ROLES, role
    return field(default=default, metadata={"role": role, "help": help, "check": check, "choices": choices,
                                            "cli": cli and role != "recorded", "metavar": metavar})


WHOLE = Range(1)  # a count of at least one
COUNT = Range(0)  # a count, zero allowed
WEIGHT = Range(0)  # a loss's weight: 0 turns it off
POSITIVE = Range(0, low_open=True)
UNSET = ("ngf",)  # offered without a default: the command line takes it from --init-generator when not given


@dataclass
class TrainConfig:
    """Everything that defines a run; stored in the checkpoint."""

    data: str = option(MISSING, "run", "folder with train/ and val/ aligned pairs")
    out: str = option(MISSING, "run", "run folder (checkpoint, losses, images)")
    epochs: int = option(10, "schedule", "epochs in all", WHOLE)
    decay_epochs: int = option(0, "schedule", "final epochs over which lr decays to 0", COUNT)
    batch_size: int = option(1, "fixed", "pairs per step, over all processes under torchrun", WHOLE)
    ngf: int = option(64, "fixed", "generator width (with --init-generator, the file's, and a larger one "
                                          "widens it)", WHOLE)
    ndf: int = option(64, "fixed", "discriminator width", WHOLE)
    lr: float = option(2e-4, "fixed", "Adam's learning rate", POSITIVE)
    beta1: float = option(0.5, "fixed", check=Range(0, 1, high_open=True), cli=False)
    lambda_l1: float = option(100.0, "recipe", "weight of the L1 loss (100)", WEIGHT)
    seed: int = option(0, "fixed", "seed of the weights, the samples' order and their augmentation",
                       COUNT)
    crop: int = option(256, "fixed", check=WHOLE, cli=False)
    train_limit: Optional[int] = option(None, "fixed", "use only the first N training pairs", WHOLE)
    sample_pairs: int = option(4, "fixed", check=COUNT, cli=False)  # val pairs in the sample grid
    lambda_fm: float = option(0.0, "recipe", "weight of the discriminator feature-matching loss (0, off; "
                                             "pix2pixHD uses 10)", WEIGHT)
    lambda_grad: float = option(0.0, "recipe", "weight of the image-gradient L1 loss (0, off; SMAPGAN's; 100 "
                                               "weighs it like the L1 term)", WEIGHT)
    rotations: bool = option(False, "recipe", "add 90 degree rotations to the flips")
    jitter: float = option(0.0, "recipe", "colour jitter strength (0, off)")  # Augment checks these
    grey: float = option(0.0, "recipe", "probability of a grey photo (0)")
    coarse: float = option(0.0, "recipe", "probability of a photo coarsened 1.5-4x, as a run upsamples a "
                                          "coarse scene (0)")
    dark_land: float = option(0.0, "recipe", "probability of a photo whose land (what its map does not draw as "
                                             "water) is darkened 0.3-0.75x, so that dark stops meaning water (0)")
    dark_of: str = option("land", "recipe", "what --dark-land darkens: all known land, or only its vegetation "
                                            "(green by its excess green) as crops and forest darken (land)",
                          choices=DARK_KINDS)
    water_rgb: Optional[list] = option(None, "recorded")  # from the mix's style, recorded when the run starts
    lambda_class: float = option(0.0, "recipe", "weight of a class decision beside L1: cross-entropy over the map "
                                                "classes' colours on the labelled pixels (0, off)", WEIGHT)
    class_colours: str = option("palette", "recipe", "what --lambda-class chooses among: the style's palette, or "
                                                     "its map classes (palette)", choices=CLASS_COLOURS)
    class_rgb: Optional[list] = option(None, "recorded")  # those colours (K x 3), from the mix's or model's style
    water_weight: float = option(1.0, "recipe", "in the class decision, the weight of labelled pixels whose class "
                                                "is water, so that learning dry land does not cost the water "
                                                "labels show (1)", WEIGHT)
    ema: float = option(0.0, "recipe", "keep a moving average of the generator's weights with this decay, e.g. "
                                       "0.999 (0, off); exported and sampled instead of the raw weights",
                        Range(0, 1, high_open=True))
    precision: str = option("auto", "schedule", "autocast precision; auto takes bf16 where the CPU or GPU has it "
                                                "natively", choices=PRECISIONS)
    channels_last: bool = option(False, "schedule", "channels-last memory format")
    compile: bool = option(False, "schedule", "torch.compile both networks")
    max_steps: Optional[int] = option(None, "schedule", "stop after N steps in all (checkpointed)", COUNT)
    max_minutes: Optional[float] = option(None, "schedule", "stop after N minutes of this invocation "
                                                            "(checkpointed)", POSITIVE)
    init_generator: Optional[str] = option(None, "fixed", "warm start a new run from an exported generator "
                                                                 "(.safetensors); its ngf is used")
    init_sha256: Optional[str] = option(None, "recorded")  # that file's hash, recorded when the run starts
    init_ngf: Optional[int] = option(None, "recorded")  # that file's width, where the run widened it to ngf
    mix: Optional[str] = option(None, "fixed", "train on the sources this mix file names "
                                                      "(geotrans.training.sources) instead of DATA/train; DATA/val "
                                                      "still gives the sample grid")
    d_warmup_steps: int = option(0, "fixed", "first steps train only the discriminator, the generator "
                                                    "frozen (a warm start's fresh discriminator learns before it "
                                                    "pushes)", COUNT)
    gan_ramp_steps: int = option(0, "fixed", "then ramp the adversarial and feature-matching terms in "
                                                    "linearly over N steps", COUNT)

    def __post_init__(self) -> None:
        for f in fields(self):
            value, check, choices = getattr(self, f.name), f.metadata["check"], f.metadata["choices"]
            if value is None or isinstance(value, bool):
                continue
            if check is not None and not check.holds(value):
                raise ValueError(f"{f.name} must be {'a whole number' if f.type == 'int' else 'a number'} in "
                                 f"{check}, not {value!r}")
            if choices and value not in choices:
                raise ValueError(f"{f.name} is one of {', '.join(choices)}, not {value!r}")
        if self.decay_epochs > self.epochs:
            raise ValueError(f"decay_epochs {self.decay_epochs} is more than epochs {self.epochs}")
        self.augment  # noqa: B018 - Augment checks the augmentations' values

    @property
    def augment(self) -> Augment:
        return Augment(flips=True, rotations=self.rotations, jitter=self.jitter, grey=self.grey,
                       coarse=self.coarse, dark_land=self.dark_land, dark_of=self.dark_of, **self._water())

    def _water(self) -> dict:
        return {} if self.water_rgb is None else {"water_rgb": tuple(self.water_rgb)}

    def colours_needed(self) -> tuple[str, ...]:
        """The map classes whose colours the run's losses and augmentations read from its mix's style, recorded
        when it starts (``<class>_rgb``): water for dark land and the water weight."""
        return ("water",) if self.dark_land or self.water_weight != 1 else ()

    @classmethod
    def from_stored(cls, values: dict) -> "TrainConfig":
        """The config a checkpoint or card stored; keys that are no longer options (an experiment that left
        geotrans) are ignored, with one line naming them."""
        known = {f.name for f in fields(cls)}
        gone = sorted(set(values) - known)
        if gone:
            log.warning("ignored what this geotrans no longer trains with: %s", ", ".join(gone))
        return cls(**{k: v for k, v in values.items() if k in known})


def names_of(*roles: str, config_class: type = TrainConfig) -> tuple[str, ...]:
    """The fields of these roles, in the config's order."""
    return tuple(f.name for f in fields(config_class) if f.metadata["role"] in roles)


def argument_type(kind: type, check: Optional[Range]) -> Callable[[str], Any]:
    """An argparse type: a ``kind`` (int or float) that ``check`` holds; else argparse's one-line error."""
    if check is None:
        return kind
    noun = "a whole number" if kind is int else "a number"

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{noun} in {check}, not {text!r}") from None
        if not check.holds(value):
            raise argparse.ArgumentTypeError(f"{noun} in {check}, not {text!r}")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in its messages
    return convert


def _argument_type(f) -> Callable[[str], Any]:
    kind = {"int": int, "float": float, "Optional[int]": int, "Optional[float]": float}.get(str(f.type), str)
    return kind if kind is str else argument_type(kind, f.metadata["check"])


def add_options(parser: argparse.ArgumentParser, config_class: type = TrainConfig) -> None:
    """One ``--field-name`` option per field of ``config_class`` (TrainConfig or a research config built on it)
    the command line offers, with its help and check. A recipe option defaults to None (not given), so that a
    resumed run changes only what is given again."""
    for f in fields(config_class):
        if not f.metadata["cli"]:
            continue
        flag, required = f"--{f.name.replace('_', '-')}", f.default is MISSING
        default = None if f.metadata["role"] == "recipe" or required or f.name in UNSET else f.default
        kwargs: dict[str, Any] = {"help": f.metadata["help"], "default": default}
        if str(f.type) == "bool":
            parser.add_argument(flag, action="store_true", **kwargs)
            continue
        if f.metadata["choices"]:
            kwargs["choices"] = f.metadata["choices"]
        else:
            kwargs["type"] = _argument_type(f)
        if f.metadata["metavar"]:
            kwargs.update(type=float, nargs=len(f.metadata["metavar"]), metavar=f.metadata["metavar"])
        if required:
            kwargs["required"] = True
        parser.add_argument(flag, **kwargs)


def given_recipe(args: argparse.Namespace, config_class: type = TrainConfig) -> dict:
    """The recipe options given on the command line (a resumed run changes only these)."""
    return {name: getattr(args, name) for name in names_of("recipe", config_class=config_class)
            if getattr(args, name, None) is not None}


def from_arguments(args: argparse.Namespace, config_class: type = TrainConfig, **overrides) -> TrainConfig:
    """The ``config_class`` config the parsed ``args`` ask for: every offered field given or at its default,
    ``overrides`` on top. A ValueError (one line) for a value the config refuses."""
    values = {f.name: getattr(args, f.name) for f in fields(config_class)  # not given: the field's default
              if f.metadata["cli"] and f.metadata["role"] != "recipe" and getattr(args, f.name) is not None}
    return config_class(**{**values, **given_recipe(args, config_class), **overrides})


def resumed_config(stored: TrainConfig, given: TrainConfig, recipe: Optional[dict] = None) -> TrainConfig:
    """The stored run's architecture, optimiser and recipe, with this invocation's paths and schedule; ``recipe``
    holds the recipe options given again now (a fine-tune)."""
    config_class = type(stored)
    now = {name: getattr(given, name) for name in names_of("run", "schedule", config_class=config_class)}
    changes = {k: v for k, v in (recipe or {}).items() if k in names_of("recipe", config_class=config_class)}
    return config_class(**{**stored.__dict__, **now, **changes})
