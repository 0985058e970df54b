"""Teach a model your region: fine-tune it from your own scenes and labels, and show how much better it got.

    geotrans tune SCENE [SCENE ...] --labels LABELS [--labels ...] --out MY_MODEL.safetensors

Each scene is read on the model's processing grid (as ``geotrans run`` reads
it) and its labels are drawn there in the map style (``geotrans.model.style``):
vector files (features with a ``class`` attribute or OSM tags; ``label_class``
for layers without either, such as a road layer) or single-band class rasters
with a class table. Label files are used where they overlap a scene.

A spatial hold-out is kept per scene: the east block of columns holding
``holdout`` of its labelled pixels, with a gap of ``GAP_PX`` columns before it
that neither trains nor scores, so neighbouring pixels do not leak. The rest
trains, cut at random as ``geotrans.training.sources`` cuts any labelled source.

The base model is tuned for ``minutes`` with the recipe of the shipped model
(feature matching, colour jitter, its weights' moving average started from the
base, which guards against forgetting) at a lower learning rate, with a fresh
discriminator that first learns alone (``D_WARMUP_STEPS``, the generator
frozen) and then pushes in gradually (``GAN_RAMP_STEPS``): a fresh adversary
wrecks the map's colours in a few hundred steps otherwise. Before and after,
the hold-out is scored with the semantic benchmark's classes; a tuned model
worse than its base is not written unless ``keep_worse``.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import rasterio
import torch
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.warp import reproject
from rasterio.windows import Window

from geotrans.errors import InputError, OutputError, one_line
from geotrans.io.files import atomic_path
from geotrans.io.labels import Grid, classes_from_codes, parse_class_table, rasterize_features, read_vector_labels
from geotrans.io.scene import SceneReader
from geotrans.io.targets import Target, check_targets
from geotrans.model.style import CLASSES, CODES, IGNORE, MapStyle
from geotrans.model.weights import ModelInfo, inherited_terms, load_generator, read_model_info, save_generator
from geotrans.run.options import RunOptions
from geotrans.run.pipeline import translate_array
from geotrans.run.plan import plan_run
from geotrans.run.runner import BatchRunner, resolve_device
from geotrans.training.checkpoints import CHECKPOINT, StopRequest, load_checkpoint
from geotrans.training.config import TrainConfig
from geotrans.training.data import Augment
from geotrans.training.sampling import MixedSet
from geotrans.training.scores import Tally
from geotrans.training.sources import Example, Source
from geotrans.training.train import train

log = logging.getLogger(__name__)

GAP_PX = 32  # columns between the training block and the hold-out
MIN_LABELLED = 0.001  # a label file covering less of a scene than this does not overlap it
D_WARMUP_STEPS = 0  # measured: a ramp alone holds New York as well as a warm-up (README)
GAN_RAMP_STEPS = 300
LR = 5e-5  # a quarter of the base recipe's: adapt, don't relearn
RASTER_SUFFIXES = (".tif", ".tiff", ".img", ".vrt", ".jp2")
VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".fgb", ".gml", ".kml", ".sqlite")


@dataclass(frozen=True)
class Area:
    """One scene on the model's grid: photo (uint8 (3, H, W)), class codes (uint8 (H, W), ``IGNORE`` where
    unknown), the column where the hold-out starts, and the classes its labels are complete for."""

    scene: str
    photo: np.ndarray
    classes: np.ndarray
    holdout_col: int
    complete_for: tuple[str, ...]
    labels: tuple[str, ...]

    @property
    def train_cols(self) -> slice:
        return slice(0, max(0, self.holdout_col - GAP_PX))

    @property
    def holdout_cols(self) -> slice:
        return slice(self.holdout_col, self.photo.shape[2])


def holdout_column(labelled: np.ndarray, share: float) -> int:
    """The column from which the east block holds ``share`` of the labelled pixels (at least one column)."""
    per_column = labelled.sum(axis=0)
    east = np.cumsum(per_column[::-1])[::-1]  # labelled pixels from each column eastwards
    total = int(per_column.sum())
    candidates = np.flatnonzero(east >= share * total)
    return int(min(candidates.max(), labelled.shape[1] - 1)) if len(candidates) else labelled.shape[1] - 1


def read_scene(scene: str, model_info: ModelInfo) -> tuple[np.ndarray, np.ndarray, Grid]:
    """The scene as ``geotrans run`` reads it: uint8 (3, H, W) on the processing grid, its valid pixels, the grid."""
    plan = plan_run(scene, RunOptions(), model_info)
    info = plan.scene
    grid = Grid(info.profile["crs"], info.grid.transform, info.grid.width, info.grid.height)
    if grid.crs is None:
        raise InputError(f"{scene}: has no CRS; labels cannot be placed on it")
    with SceneReader(info, plan.tiles.tile) as reader:
        values, valid = reader.read_window(Window(0, 0, grid.width, grid.height))
    return np.clip(np.rint(values), 0, 255).astype(np.uint8), valid, grid


def label_files(labels: Sequence[str]) -> list[str]:
    """The label files given: each file, and the raster and vector files in each folder (sorted)."""
    files = []
    for path in labels:
        if not Path(path).is_dir():
            files.append(path)
            continue
        found = sorted(os.fspath(p) for p in Path(path).iterdir()
                       if p.is_file() and p.suffix.lower() in (*RASTER_SUFFIXES, *VECTOR_SUFFIXES))
        if not found:
            raise InputError(f"{path}: a folder without label files (rasters {', '.join(RASTER_SUFFIXES)}; vectors "
                             f"{', '.join(VECTOR_SUFFIXES)})")
        files += found
    return files


def is_raster(path: str) -> bool:
    return Path(path).suffix.lower() in RASTER_SUFFIXES


def draw_labels(labels: Sequence[str], grid: Grid, table: Optional[dict], label_class: Optional[str],
                scene: str) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """Class codes of every label file on ``grid`` (later files over earlier ones where both know a pixel),
    the classes they are complete for, and the files that overlap the scene."""
    classes = np.full(grid.shape, IGNORE, dtype=np.uint8)
    complete: set[str] = set()
    used = []
    for path in labels:
        if is_raster(path):
            if table is None:
                raise InputError(f"{path}: a class raster needs {{class_table}}", options=["class_table"])
            drawn = _class_raster(path, grid, table)
            present = {CLASSES[c] for c in np.unique(drawn) if c != IGNORE}
        else:
            features = read_vector_labels(path, grid.crs, label_class)
            drawn = rasterize_features(features, grid)
            present = {f.map_class for f in features}
        if np.mean(drawn != IGNORE) < MIN_LABELLED:
            log.info("%s: does not overlap %s", path, scene)
            continue
        known = drawn != IGNORE
        classes[known] = drawn[known]
        complete |= present
        used.append(path)
    return classes, tuple(sorted(complete)), tuple(used)


def _class_raster(path: str, grid: Grid, table: dict) -> np.ndarray:
    """A single-band class raster reprojected (nearest) onto ``grid`` and classed through ``table``."""
    try:
        with rasterio.open(path) as ds:
            if ds.count != 1:
                raise InputError(f"{path}: a class raster has one band; this one has {ds.count}")
            if ds.crs is None:
                raise InputError(f"{path}: the class raster has no CRS")
            codes = np.full(grid.shape, -1, dtype=np.int64)
            reproject(rasterio.band(ds, 1), codes, dst_transform=grid.transform, dst_crs=grid.crs,
                      resampling=Resampling.nearest, dst_nodata=-1)
    except RasterioError as err:
        raise InputError(f"{path}: not a readable class raster ({one_line(err)})") from None
    outside = codes < 0
    drawn = classes_from_codes(np.where(outside, next(iter(table)), codes), table, source=path)
    drawn[outside] = IGNORE
    return drawn


def prepare_areas(scenes: Sequence[str], labels: Sequence[str], model_info: ModelInfo, holdout: float,
                  table: Optional[dict] = None, label_class: Optional[str] = None) -> list[Area]:
    """Every scene read, labelled and split; a scene no label file overlaps is an error."""
    if not 0 < holdout < 1:
        raise InputError(f"{{holdout}} {holdout:g}: must be between 0 and 1", options=["holdout"])
    areas = []
    for scene in scenes:
        photo, valid, grid = read_scene(scene, model_info)
        classes, complete, used = draw_labels(labels, grid, table, label_class, scene)
        classes[~valid] = IGNORE
        labelled = classes != IGNORE
        if labelled.mean() < MIN_LABELLED:
            raise InputError(f"{scene}: none of the {len(labels)} label file(s) overlaps it",
                             hint="give labels in the scene's area (any CRS: they are reprojected); for several "
                                  "files repeat {labels}, or give their folder", options=["labels"])
        col = holdout_column(labelled, holdout)
        if col - GAP_PX < 64:
            raise InputError(f"{scene}: too narrow on the model's grid ({grid.width} px) to keep a hold-out "
                             f"block apart from training")
        areas.append(Area(scene, photo, classes, col, complete, used))
        log.info("%s: %d x %d px at the model's resolution, %.0f%% labelled; hold-out from column %d",
                 scene, grid.width, grid.height, 100 * labelled.mean(), col)
    return areas


def score(runner: BatchRunner, areas: Sequence[Area], style: MapStyle, metres: float) -> dict:
    """The semantic benchmark's scores of the maps ``runner`` draws of every hold-out block."""
    tally = Tally.empty()
    for area in areas:
        photo = np.ascontiguousarray(area.photo[:, :, area.holdout_cols])
        truth = area.classes[:, area.holdout_cols]
        drawn = style.classify(translate_array(photo, runner))
        tally.add(drawn, truth, np.ones(truth.shape, bool), metres, area.complete_for)
    return tally.scores()


def quality(scores: dict) -> Optional[float]:
    """One number to compare a tuned model with its base: the mean of the scores the labels allow."""
    values = [scores[k] for k in ("street_f1", "water_iou", "green_iou", "building_iou") if scores.get(k) is not None]
    return float(np.mean(values)) if values else None


@dataclass
class TuneReport:
    before: dict
    after: dict
    written: bool
    steps: int
    minutes: float  # of training in all, over every resumed invocation
    out: str
    areas: list = field(default_factory=list)
    minutes_now: Optional[float] = None  # of this invocation (a resumed tune's share)

    def summary(self) -> str:
        """The line that says what was written: steps and minutes, this invocation's share when resumed."""
        now = "" if self.minutes_now in (None, self.minutes) else f", {self.minutes_now:g} of them in this run"
        return f"{self.steps} steps, {self.minutes:g} min of training{now}"

    def table(self) -> str:
        rows = [("street F1", "street_f1"), ("water IoU", "water_iou"), ("green IoU", "green_iou"),
                ("building IoU", "building_iou"), ("dry land as water", "dry_land_as_water")]
        lines = [f"{'hold-out':<20}{'base':>8}{'tuned':>8}"]
        for name, key in rows:
            if self.before.get(key) is None and self.after.get(key) is None:
                continue
            cells = "".join(f"{'-' if s.get(key) is None else format(s[key], '.3f'):>8}"
                            for s in (self.before, self.after))
            lines.append(f"{name:<20}{cells}")
        return "\n".join(lines)


@dataclass(frozen=True)
class TuneJob:
    """A ``geotrans tune``: fine-tune ``base`` (None: the shipped model) on the ``scenes`` with the ``labels``
    (vector files, class rasters read through ``class_table``, or folders of them; ``label_class`` is the class
    of every vector feature, else each feature's own), at most ``minutes`` of training (or ``max_steps``), and
    write it to ``out`` if it scores better than its base on the east ``holdout`` share of each scene's labelled
    columns (or anyway with ``keep_worse``). ``resume`` continues a tune that was stopped."""

    scenes: tuple[str, ...]
    labels: tuple[str, ...]
    out: str
    base: Optional[str] = None
    minutes: float = 60.0
    holdout: float = 0.2
    class_table: Optional[str] = None
    label_class: Optional[str] = None
    resume: bool = False
    keep_worse: bool = False
    overwrite: bool = False
    max_steps: Optional[int] = None
    batch_size: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "scenes", tuple(self.scenes))
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.label_class is not None and self.label_class not in CODES:
            raise InputError(f"{{label_class}} {self.label_class}: not one of {', '.join(CLASSES)}",
                             options=["label_class"])


def tune(job: TuneJob, stop: Optional[StopRequest] = None,
         on_step: Optional[Callable[[dict], None]] = None) -> TuneReport:
    """Run the tune ``job``; ``stop`` ends it at a checkpoint (``job.resume`` continues), ``on_step`` hears the
    progress after every step."""
    scenes, out, base, minutes, holdout = job.scenes, job.out, job.base, job.minutes, job.holdout
    labels = label_files(job.labels)
    inputs = [*scenes, *labels, *(p for p in (base, job.class_table) if p)]
    check_targets([Target(out, "model")], inputs, job.overwrite)
    class_table, label_class, resume, max_steps = job.class_table, job.label_class, job.resume, job.max_steps
    table = _read_table(class_table) if class_table else None
    run_dir = Path(out).with_name(f".{Path(out).name}.tune")
    stored = json.loads(load_checkpoint(run_dir / CHECKPOINT)["config"]) \
        if resume and (run_dir / CHECKPOINT).exists() else None  # a damaged one is said before any work
    base_info = read_model_info(base)
    style = MapStyle.from_card(base_info.card)
    metres = base_info.resolution_m or 0.9
    areas = prepare_areas(scenes, labels, base_info, holdout, table, label_class)
    base_net, _ = load_generator(base)
    base_runner = BatchRunner(base_net, resolve_device("auto"))
    before = score(base_runner, areas, style, metres)
    log.debug("base %s on the hold-out: %s", base_info.name, json.dumps(before))  # the report's table says it

    if not resume and run_dir.exists():
        shutil.rmtree(run_dir)
    examples = [Example(np.ascontiguousarray(a.photo[:, :, a.train_cols]), style.paint(a.classes[:, a.train_cols]),
                        a.classes[:, a.train_cols] != IGNORE, metres, rendered=True) for a in areas]
    train_set = MixedSet([Source("your labels", 1.0, examples)], resolution_m=metres, scale_jitter=0.1,
                         augment=Augment(jitter=0.1, grey=0.0), seed=0, epoch_size=64)
    config = TrainConfig(data=str(run_dir), out=str(run_dir), epochs=10**6, batch_size=job.batch_size,
                         ngf=base_info.ngf, lr=LR, lambda_fm=10.0, jitter=0.1, ema=0.999, sample_pairs=0,
                         max_minutes=minutes, max_steps=max_steps, init_generator=str(base_info.path),
                         d_warmup_steps=D_WARMUP_STEPS, gan_ramp_steps=GAN_RAMP_STEPS)
    if stored is not None:
        config = TrainConfig.from_stored({**stored, "max_minutes": minutes, "max_steps": max_steps})
    earlier = json.loads((run_dir / "run.json").read_text())["progress"]["seconds"] if stored is not None else 0.0
    model = train(config, resume=resume, train_set=train_set, stop=stop, on_step=on_step)
    progress = json.loads((run_dir / "run.json").read_text())["progress"]
    if stop:
        raise KeyboardInterrupt  # checkpointed: --resume continues
    tuned = model.exported_generator.eval()
    after = score(base_runner.running(tuned), areas, style, metres)
    worse = (quality(after) or 0.0) < (quality(before) or 0.0)
    report = TuneReport(before, after, written=not worse or job.keep_worse, steps=progress["step"],
                        minutes=round(progress["seconds"] / 60, 1),
                        minutes_now=round((progress["seconds"] - earlier) / 60, 1), out=out,
                        areas=[{"scene": a.scene, "labels": list(a.labels), "holdout_from_column": a.holdout_col}
                               for a in areas])
    if not report.written:  # the caller says so (the CLI's one error line)
        return report
    card = {**inherited_terms(base_info.path), "name": Path(out).stem,
            "tune": {"base": base_info.name, "base_sha256": base_info.sha256, "areas": report.areas,
                     "minutes": report.minutes, "steps": report.steps, "holdout": holdout, "lr": LR,
                     "d_warmup_steps": D_WARMUP_STEPS, "gan_ramp_steps": GAN_RAMP_STEPS,
                     "hold_out_before": before, "hold_out_after": after}}
    card["training"] = {"base": base_info.card.get("training", {}), "tuned": "see tune"}
    _write_model(tuned, out, card)
    shutil.rmtree(run_dir, ignore_errors=True)
    return report


def _read_table(path: str) -> dict:
    try:
        table = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable JSON class table ({err})") from None
    if not isinstance(table, dict):
        raise InputError(f"{path}: a class table is a JSON object from codes to class names")
    return parse_class_table(table, source=path)


def _write_model(net: torch.nn.Module, out: str, card: dict) -> None:
    try:
        with atomic_path(out) as tmp:
            save_generator(net, tmp, name=card["name"], card=card)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # as any new file, whatever the writer's temporary mode
    except OSError as err:
        raise OutputError(f"{out}: cannot write the model ({err})") from None

