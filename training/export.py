"""Export a run's generator as a geotrans model: fp16 safetensors plus a JSON model card beside it.

    python -m training.export --run RUN_DIR --out geotrans/default_model/generator.safetensors [--card extra.json]
    python -m training.export --model M --out M --card palette.json      # add to an exported model's card
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Optional

from geotrans.errors import InputError, one_line
from geotrans.io.files import atomic_path
from geotrans.io.targets import Target, check_target
from geotrans.model.generator import UnetGenerator
from geotrans.model.weights import card_path, inherited_terms, load_generator, save_generator
from geotrans.training.checkpoints import CHECKPOINT, load_checkpoint
from geotrans.training.colours import METHOD, learnt_colours
from geotrans.training.sources import read_mix
from geotrans.training.widen import WIDEN_SEED
from training.arguments import one_line_errors
from training.research import ResearchConfig

log = logging.getLogger("training.export")


def export(run_dir: str | Path, out: str | Path, name: str, card_extra: Optional[dict] = None,
           raw: bool = False) -> dict:
    """Write ``out`` (weights) and ``out`` with .json (card); returns the card.

    A run with a moving average of its generator exports the average, unless ``raw``."""
    run_dir, out = Path(run_dir), Path(out)
    state = load_checkpoint(run_dir / CHECKPOINT, "the run's checkpoint", hint="give a run folder --out of "
                            "python -m training.train")
    config = ResearchConfig.from_stored(json.loads(state["config"]))
    net = UnetGenerator(ngf=config.ngf)
    weights = "ema_generator" if "ema_generator" in state and not raw else "generator"
    net.load_state_dict(state[weights])
    run = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else {}
    progress = state["progress"]
    pairs = run.get("train_pairs", config.train_limit or 0)
    card = {
        "name": name,
        "architecture": {"generator": "pix2pix U-Net, 8 downsamplings", "ngf": config.ngf, "norm": net.norm,
                         "parameters": sum(p.numel() for p in net.parameters()), "weights_dtype": "float16"},
        "input": {"bands": "R, G, B (3 x uint8)", "normalization": "x / 127.5 - 1, range [-1, 1]",
                  "tile": 256},
        "output": {"bands": "R, G, B map rendering", "normalization": "(y + 1) * 127.5"},
        "training": {"data": f"{config.data}/train ({pairs} aligned pairs)" if not config.mix else
                     f"{config.mix}: {pairs} samples an epoch from the sources below",
                     "crops": f"random {config.crop} px crops at the imagery's own resolution, "
                              f"{config.augment.describe()}",
                     "epochs": round(progress["epoch"] + progress["batch"] / max(1, pairs // config.batch_size), 2),
                     "steps": progress["step"], "batch_size": config.batch_size, "lr": config.lr,
                     "beta1": config.beta1, "lambda_l1": config.lambda_l1, "lambda_fm": config.lambda_fm,
                     "lambda_grad": config.lambda_grad, "ndf": config.ndf, "precision": config.precision,
                     "wall_time_minutes": round(progress["seconds"] / 60, 1),
                     "hardware": run.get("hardware", "unknown")},
    }
    if weights == "ema_generator":
        card["training"]["weights"] = f"moving average of the generator's weights, decay {config.ema:g}"
    if config.init_generator:
        card["training"]["warm_start"] = {"generator": config.init_generator, "sha256": config.init_sha256,
                                          "fresh": "discriminator and optimizers"}
        if config.init_ngf:
            card["training"]["warm_start"].update(widened_from_ngf=config.init_ngf, widen_seed=WIDEN_SEED)
        card.update(inherited_terms(config.init_generator))
    if config.mix:
        card["training"]["sources"] = run.get("sources", [])
        if config.lambda_dry:
            card["training"]["lambda_dry"] = config.lambda_dry  # no_water sources' dry land kept from water
        if config.lambda_class:
            card["training"]["lambda_class"] = config.lambda_class  # the class decision beside L1
            card["training"]["class_colours"] = config.class_colours
            card["training"].update({key: value for key, value, default in (
                ("water_weight", config.water_weight, 1), ("building_weight", config.building_weight, 1),
                ("class_on", config.class_on, "all")) if value != default})
        licence = model_licence(card["training"]["sources"])
        if licence:
            card["licence"] = licence  # else the warm start's, if it has one
        card["training"]["d_warmup_steps"] = config.d_warmup_steps
        card["training"]["gan_ramp_steps"] = config.gan_ramp_steps
        card["input_colours"] = mix_colours(config.mix, config.data)
    if run.get("recolour"):
        card.update(recoloured_terms(card, run["recolour"]))
        card["training"]["recolour"] = run["recolour"]
    card.update(card_extra or {})
    write_model(net, out, name, card)
    log.info("exported %s (%.1f MB)", out, out.stat().st_size / 1e6)
    return card


def mix_colours(mix: str, data: Optional[str]) -> dict:
    """The card's ``input_colours``: the colours of the mix's training photos, limited by its val photos' (New
    York's from ``data``/val where it is there), so that ``geotrans run`` can say when a scene's are unlike them."""
    new_york_val = Path(data) / "val" if data and (Path(data) / "val").is_dir() else None
    learnt, measured = learnt_colours(read_mix(mix), new_york_val and str(new_york_val))
    return learnt.card(METHOD, measured)


def recoloured_terms(card: dict, recolour: dict) -> dict:
    """The card's map classes and palette with the classes a run's mix recoloured (``recolour``: class -> new
    colour) in their new colours: the class's colour, and the palette entry that was that colour."""
    classes = card.get("map_classes")
    if not classes:
        raise ValueError("a recoloured run needs a card with map_classes to recolour (train from a model)")
    old = {tuple(classes[name]): list(rgb) for name, rgb in recolour.items()}
    terms = {"map_classes": {**classes, **{name: list(rgb) for name, rgb in recolour.items()}}}
    if card.get("palette"):
        terms["palette"] = [old.get(tuple(c), list(c)) for c in card["palette"]]
    return terms


SHARE_ALIKE = "CC BY-NC-SA"  # a source under it makes the model as a whole non-commercial and share-alike


def model_licence(sources: list[dict]) -> Optional[str]:
    """The licence a model trained on ``sources`` (the card's list) carries as a whole: CC BY-NC-SA 4.0 when
    any source is under it (LandCover.ai), naming them; None when none is (each source's licence is listed)."""
    bound = [s["name"] for s in sources if SHARE_ALIKE in str(s.get("licence", ""))]
    if not bound:
        return None
    return (f"CC BY-NC-SA 4.0 as a whole (non-commercial, share-alike), because it learnt from "
            f"{', '.join(bound)}; the other sources' terms are on the card")


def write_model(net, out: str | Path, name: str, card: dict) -> None:
    """The model at ``out`` and its card beside it (.json), each written whole or not at all."""
    with atomic_path(out) as tmp:
        save_generator(net, tmp, name=name, card=card)
    with atomic_path(card_path(out)) as tmp:
        tmp.write_text(json.dumps(card, indent=2) + "\n")


def recard(model: str | Path, out: str | Path, card_extra: dict) -> dict:
    """Write the exported model ``model`` again at ``out`` with ``card_extra`` merged into its card; the
    weights are unchanged (fp16 in, fp16 out)."""
    net, info = load_generator(model)
    card = {**info.card, **card_extra}
    write_model(net, out, info.name, card)
    log.info("wrote %s with %s added to its card", out, ", ".join(card_extra))
    return card


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="run folder with checkpoint.pt")
    source.add_argument("--model", help="an exported model, written again with --card merged into its card")
    parser.add_argument("--out", required=True, help="output .safetensors (the card goes beside it as .json)")
    parser.add_argument("--name", default=None, help="model name (default: the run folder's name)")
    parser.add_argument("--raw", action="store_true",
                        help="the generator's own weights, not their moving average (runs trained with --ema)")
    parser.add_argument("--card", action="append", default=[], help="JSON file merged into the card (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    with one_line_errors(parser):
        extra = {}
        for path in args.card:
            extra.update(read_card_extra(path))
        source = [args.model, card_path(args.model)] if args.model else [Path(args.run) / CHECKPOINT]
        for target in (args.out, card_path(args.out)):  # the model rewritten in place is the one exception
            if not args.model or Path(target).resolve() not in {Path(s).resolve() for s in source}:
                check_target(Target(target, "model"), inputs=[*source, *args.card], overwrite=True)
        if args.model:
            recard(args.model, args.out, extra)
        else:
            export(args.run, args.out, args.name or Path(args.run).name, extra, raw=args.raw)


def read_card_extra(path: str | Path) -> dict:
    """A JSON object to merge into a card; an InputError in one line when the file is not one."""
    try:
        extra = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a JSON object to merge into the card ({one_line(err)})") from None
    if not isinstance(extra, dict):
        raise InputError(f"{path}: holds a JSON {type(extra).__name__}, not an object to merge into the card")
    return extra


if __name__ == "__main__":
    main()
