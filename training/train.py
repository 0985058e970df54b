"""Train the geotrans generator the pix2pix way, from the command line (the loop is
``geotrans.training.train``, which says what a run does and writes).

    python -m training.train --data ../shared/data/maps --out runs/maps [--epochs N] [--batch-size N] [--resume]
    torchrun --standalone --nproc_per_node 2 -m training.train ...   # distributed data parallel

``--data`` holds ``train/`` and ``val/`` folders of aligned pairs (left half the
photo, right half the map); ``--mix`` trains on the sources a mix file names
(``training/mixes/``). SIGTERM or Ctrl-C writes a checkpoint and exits; ``--resume``
continues, and changes only the recipe options given again.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import torch.distributed as dist

from geotrans.errors import ModelError
from geotrans.model.choices import PRECISIONS
from geotrans.model.weights import read_model_info
from geotrans.training.data import DARK_KINDS
from geotrans.training.train import (
    CHECKPOINT,
    CLASS_COLOURS,
    CLASS_ON,
    StopRequest,
    TrainConfig,
    load_checkpoint,
    set_threads,
    stop_on_signals,
    train,
)
from training.arguments import number, one_line_errors

log = logging.getLogger("training.train")


RECIPE = ("lambda_l1", "lambda_fm", "lambda_grad", "rotations", "jitter", "grey", "coarse", "ema", "lambda_dry",
          "dark_land", "dark_of", "water_coloured", "water_texture", "lambda_class", "class_colours", "water_weight",
          "building_weight", "class_on")


def resumed_config(stored: TrainConfig, given: TrainConfig, recipe: Optional[dict] = None) -> TrainConfig:
    """The stored run's architecture and optimiser settings, with this invocation's paths and schedule.

    ``recipe`` holds the losses' weights and augmentations given explicitly now (a fine-tune); the rest stay stored.
    """
    schedule = ("data", "out", "epochs", "decay_epochs", "max_steps", "max_minutes", "precision", "channels_last",
                "compile")
    changes = {k: v for k, v in (recipe or {}).items() if k in RECIPE}
    return TrainConfig(**{**asdict(stored), **{k: getattr(given, k) for k in schedule}, **changes})


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder with train/ and val/ aligned pairs")
    parser.add_argument("--out", required=True, help="run folder (checkpoint, losses, images)")
    parser.add_argument("--epochs", type=number(int, 1), default=TrainConfig.epochs)
    parser.add_argument("--decay-epochs", type=number(int, 0), default=0, help="final epochs over which lr decays to 0")
    parser.add_argument("--batch-size", type=number(int, 1), default=TrainConfig.batch_size,
                        help="pairs per step, over all processes under torchrun")
    parser.add_argument("--ngf", type=number(int, 1), default=None,
                        help=f"generator width (default {TrainConfig.ngf}; with --init-generator, the file's, and a "
                             "larger one widens it)")
    parser.add_argument("--ndf", type=number(int, 1), default=TrainConfig.ndf)
    parser.add_argument("--lr", type=number(float, 0, low_open=True), default=TrainConfig.lr)
    # The recipe's options default to None: with --resume, only those given change the stored run.
    parser.add_argument("--lambda-l1", type=number(float, 0), default=None,
                        help=f"weight of the L1 loss ({TrainConfig.lambda_l1:g})")
    parser.add_argument("--lambda-fm", type=number(float, 0), default=None,
                        help="weight of the discriminator feature-matching loss (0, off)")
    parser.add_argument("--lambda-grad", type=number(float, 0), default=None,
                        help="weight of the image-gradient L1 loss (0, off)")
    parser.add_argument("--rotations", action="store_true", default=None, help="add 90 degree rotations to the flips")
    parser.add_argument("--jitter", type=float, default=None, help="colour jitter strength (0, off)")
    parser.add_argument("--grey", type=float, default=None, help="probability of a grey photo (0)")
    parser.add_argument("--coarse", type=float, default=None,
                        help="probability of a photo coarsened 1.5-4x, as a run upsamples a coarse scene (0)")
    parser.add_argument("--dark-land", type=float, default=None,
                        help="probability of a photo whose land (what its map does not draw as water) is darkened "
                             "0.3-0.75x, so that dark stops meaning water (0)")
    parser.add_argument("--dark-of", choices=DARK_KINDS, default=None,
                        help="what --dark-land darkens: all known land, or only its vegetation (green by its "
                             "excess green) as crops and forest darken (land)")
    parser.add_argument("--water-coloured", type=float, default=None,
                        help="probability of a photo whose vegetation takes the mean colour of its own water, "
                             "keeping part of its texture (--water-texture), so that colour stops meaning water (0)")
    parser.add_argument("--water-texture", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                        help="the share of its texture --water-coloured vegetation keeps, drawn in [LOW, HIGH] "
                             "(0.3 1)")
    parser.add_argument("--lambda-dry", type=number(float, 0), default=None,
                        help="weight of the hinge keeping a mix's known dry land (no_water sources) from the water "
                             "colour (0, off)")
    parser.add_argument("--lambda-class", type=number(float, 0), default=None,
                        help="weight of a class decision beside L1: cross-entropy over the map classes' colours on "
                             "the labelled pixels (0, off)")
    parser.add_argument("--class-colours", choices=CLASS_COLOURS, default=None,
                        help="what --lambda-class chooses among: the style's palette, or its map classes (palette)")
    parser.add_argument("--water-weight", type=number(float, 0, low_open=True), default=None,
                        help="in the class decision, the weight of labelled pixels whose class is water, so that "
                             "learning dry land does not cost the water labels show (1)")
    parser.add_argument("--building-weight", type=number(float, 0), default=None,
                        help="in the class decision, the weight of labelled pixels whose class is a building; 0 "
                             "leaves them to L1 (1)")
    parser.add_argument("--class-on", choices=CLASS_ON, default=None,
                        help="which samples the class decision scores: all, or only those whose map is rendered "
                             "from class labels, not the New York maps, whose lettering and anti-aliased edges "
                             "belong to no class (all)")
    parser.add_argument("--ema", type=number(float, 0, 1, high_open=True), default=None,
                        help="keep a moving average of the generator's weights with this decay, e.g. 0.999 (0, off); "
                             "exported and sampled instead of the raw weights")
    parser.add_argument("--precision", choices=PRECISIONS, default=TrainConfig.precision,
                        help="autocast precision; auto takes bf16 where the CPU or GPU has it natively")
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    parser.add_argument("--compile", action="store_true", help="torch.compile both networks")
    parser.add_argument("--threads", type=number(int, 1), default=None,
                        help="torch threads (default: the cores this process may use)")
    parser.add_argument("--seed", type=number(int, 0), default=TrainConfig.seed)
    parser.add_argument("--train-limit", type=number(int, 1), default=None, help="use only the first N training pairs")
    parser.add_argument("--max-steps", type=number(int, 0), default=None,
                        help="stop after N steps in all (checkpointed)")
    parser.add_argument("--max-minutes", type=number(float, 0, low_open=True), default=None,
                        help="stop after N minutes of this invocation (checkpointed)")
    parser.add_argument("--mix", default=None, metavar="JSON",
                        help="train on the sources this mix file names (geotrans.training.sources) instead of "
                             "DATA/train; "
                             "DATA/val still gives the sample grid")
    parser.add_argument("--d-warmup-steps", type=number(int, 0), default=0,
                        help="first steps train only the discriminator, the generator frozen (a warm start's "
                             "fresh discriminator learns before it pushes)")
    parser.add_argument("--gan-ramp-steps", type=number(int, 0), default=0,
                        help="then ramp the adversarial and feature-matching terms in linearly over N steps")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--init-generator", default=None, metavar="MODEL",
                        help="warm start a new run from an exported generator (.safetensors); its ngf is used")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.decay_epochs > args.epochs:
        parser.error(f"--decay-epochs {args.decay_epochs} is more than --epochs {args.epochs}")
    if not args.mix and not (Path(args.data) / "train").is_dir():
        parser.error(f"{args.data}: needs a train/ folder of aligned pairs")
    if args.water_weight is not None and (args.water_weight <= 0 or not (args.lambda_class or args.resume)):
        parser.error("--water-weight weighs the class decision's water: it needs --lambda-class and a weight above 0")
    if args.building_weight is not None and (args.building_weight < 0 or not (args.lambda_class or args.resume)):
        parser.error("--building-weight weighs the class decision's buildings: it needs --lambda-class and a weight "
                     "of 0 or more")
    if args.class_on is not None and not (args.lambda_class or args.resume):
        parser.error("--class-on chooses what the class decision scores: it needs --lambda-class")
    recipe = {k: getattr(args, k) for k in RECIPE if getattr(args, k) is not None}
    config = TrainConfig(data=args.data, out=args.out, epochs=args.epochs, decay_epochs=args.decay_epochs,
                         batch_size=args.batch_size, ngf=args.ngf or TrainConfig.ngf, ndf=args.ndf, lr=args.lr,
                         **recipe, precision=args.precision,
                         channels_last=args.channels_last, compile=args.compile, seed=args.seed,
                         train_limit=args.train_limit, max_steps=args.max_steps, max_minutes=args.max_minutes,
                         init_generator=args.init_generator, mix=args.mix,
                         d_warmup_steps=args.d_warmup_steps, gan_ramp_steps=args.gan_ramp_steps)
    if args.init_generator:
        try:
            start_ngf = read_model_info(args.init_generator).ngf
        except ModelError as err:
            parser.error(str(err))
        if args.ngf is not None and args.ngf < start_ngf:
            parser.error(f"--ngf {args.ngf} is narrower than {args.init_generator}'s {start_ngf}; a warm start can "
                         "only keep or widen it")
        config.ngf = args.ngf or start_ngf
    if args.resume and (Path(args.out) / CHECKPOINT).exists():
        with one_line_errors(parser):
            stored = TrainConfig(**json.loads(load_checkpoint(Path(args.out) / CHECKPOINT)["config"]))
        config = resumed_config(stored, config, recipe)
        for key in recipe:
            if getattr(stored, key) != getattr(config, key):
                log.info("fine-tune: %s %s -> %s from here on", key, getattr(stored, key), getattr(config, key))
    try:
        log.debug("augmentation: %s", config.augment.describe())  # Augment checks its values: one line, here
    except ValueError as err:
        parser.error(str(err))
    world = int(os.environ.get("WORLD_SIZE", 1))
    if config.batch_size % world:
        parser.error(f"--batch-size {config.batch_size} does not split over {world} processes")
    set_threads(args.threads)
    stop = StopRequest()
    with stop_on_signals(stop), one_line_errors(parser):  # a mix loads before the run folder is made
        train(config, resume=args.resume, stop=stop)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
