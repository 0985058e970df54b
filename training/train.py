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
from pathlib import Path
from typing import Optional

import torch.distributed as dist

from geotrans.errors import ModelError
from geotrans.model.weights import read_model_info
from geotrans.training.checkpoints import CHECKPOINT, StopRequest, load_checkpoint, stop_on_signals
from geotrans.training.config import add_options, from_arguments, given_recipe, resumed_config
from geotrans.training.train import set_threads, train
from training.arguments import number, one_line_errors
from training.research import ResearchConfig, ResearchPix2Pix

log = logging.getLogger("training.train")


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    add_options(parser, ResearchConfig)  # every training option and experiment, with its help and check
    parser.add_argument("--threads", type=number(int, 1), default=None,
                        help="torch threads (default: the cores this process may use)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not args.mix and not (Path(args.data) / "train").is_dir():
        parser.error(f"{args.data}: needs a train/ folder of aligned pairs")
    if args.water_weight is not None and (args.water_weight <= 0 or not (args.lambda_class or args.resume)):
        parser.error("--water-weight weighs the class decision's water: it needs --lambda-class and a weight above 0")
    if args.building_weight is not None and not (args.lambda_class or args.resume):
        parser.error("--building-weight weighs the class decision's buildings: it needs --lambda-class and a weight "
                     "of 0 or more")
    if args.class_on is not None and not (args.lambda_class or args.resume):
        parser.error("--class-on chooses what the class decision scores: it needs --lambda-class")
    recipe = given_recipe(args, ResearchConfig)
    try:
        config = from_arguments(args, ResearchConfig)  # every value checked once, by its field
    except ValueError as err:
        parser.error(str(err))
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
            stored = ResearchConfig.from_stored(json.loads(load_checkpoint(Path(args.out) / CHECKPOINT)["config"]))
        try:
            config = resumed_config(stored, config, recipe)
        except ValueError as err:
            parser.error(str(err))
        for key in recipe:
            if getattr(stored, key) != getattr(config, key):
                log.info("fine-tune: %s %s -> %s from here on", key, getattr(stored, key), getattr(config, key))
    log.debug("augmentation: %s", config.augment.describe())
    world = int(os.environ.get("WORLD_SIZE", 1))
    if config.batch_size % world:
        parser.error(f"--batch-size {config.batch_size} does not split over {world} processes")
    set_threads(args.threads)
    stop = StopRequest()
    with stop_on_signals(stop), one_line_errors(parser):  # a mix loads before the run folder is made
        train(config, resume=args.resume, stop=stop, model_class=ResearchPix2Pix)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
