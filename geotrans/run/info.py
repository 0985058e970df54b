"""What `geotrans run` would do with a scene: a RunPlan, formatted, without running the model on it.

The time estimate is what a whole `geotrans run` of the scene costs, from short measurements on this
machine: the process's own start (the interpreter and torch, as far as this command got before planning),
loading the model's weights, planning the scene, a generator of the model's width (random weights: the cost
does not depend on them) running a few batches of tiles, a few neighbouring windows of the plan read as a run
reads them (decoding, resampling and filling nodata cost as much as the generator on some scenes), and a small
map file written and finished (overviews, the check read). On a CPU the stages share the cores, so their
costs add. ``bench/info_estimate.py`` holds the estimates against real runs of the sample scenes.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from affine import Affine

from geotrans.io.scene import SceneReader
from geotrans.io.sink import GeoTiffSink
from geotrans.model.colours import LearntColours
from geotrans.model.generator import UnetGenerator
from geotrans.model.precision import CPU_INFERENCE_BF16, resolve_precision
from geotrans.model.weights import ModelInfo
from geotrans.run.plan import RunPlan
from geotrans.run.runner import resolve_device

WARMUP_BATCHES = 5  # timed; the fastest counts
READ_SAMPLES = 12  # neighbouring windows of the plan read to time reading


@dataclass(frozen=True)
class Rates:
    """What a run costs on this machine: the generator's rate, the seconds to read a window, and the seconds
    every run spends before its first tile and on its file (creating, finishing with overviews, verifying)."""

    tiles_per_second: float
    read_seconds: float = 0.0
    start_seconds: float = 0.0  # planning the scene and the generator's first use
    pixel_seconds: float = 0.0  # the map file, per output pixel: writing, overviews, verifying
    launch_seconds: float = 0.0  # the process's start: the interpreter, the command line, torch's import
    model_seconds: float = 0.0  # reading and building the model's generator

    @property
    def seconds_per_tile(self) -> float:
        return 1 / self.tiles_per_second + self.read_seconds


def measure_generator(ngf: int, device: str = "auto", batch_size: int = 8, tile_size: int = 256,
                      precision: str = "auto") -> tuple[float, float]:
    """(tiles per second, first-use seconds) of a width-``ngf`` generator on this machine, in ``precision`` as
    a run resolves it: the fastest of a few timed batches, and what the first batch took beyond that (a run
    pays it too: kernels are chosen and memory is first touched)."""
    torch_device = resolve_device(device)
    net = UnetGenerator(ngf=ngf).to(torch_device).eval()
    tiles = torch.zeros(batch_size, 3, tile_size, tile_size, device=torch_device)
    autocast = resolve_precision(precision, torch_device, cpu_bf16=CPU_INFERENCE_BF16).autocast()
    seconds = []
    with torch.inference_mode(), autocast:
        for _ in range(1 + WARMUP_BATCHES):
            started = time.perf_counter()
            net(tiles)
            if torch_device.type == "cuda":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - started)
    steady = min(seconds[1:])  # first uses and other processes only slow batches down
    return batch_size / steady, seconds[0] - steady


def measure_tiles_per_second(ngf: int, device: str = "auto", batch_size: int = 8, precision: str = "auto") -> float:
    """Tiles per second of a width-``ngf`` generator on this machine (``measure_generator``)."""
    return measure_generator(ngf, device, batch_size, precision=precision)[0]


def measure_read_seconds(plan: RunPlan, samples: int = READ_SAMPLES) -> float:
    """Seconds to read one of the plan's windows, timed on up to ``samples`` neighbouring windows of the
    scene's middle row (the nearest row with windows to run), in the order a run reads them. Neighbours share
    source blocks and resampling, so windows scattered over the scene measured 2-3x a run's reads (Dakota); a
    row's first window still pays for its blocks, as in a run. A first read elsewhere, opening the scene, is
    not timed. Only the rows looked at are listed: a plan can hold a hundred million windows."""
    rows = len(plan.tiles.row_starts)
    middle = rows // 2
    row = []
    for i in sorted(range(rows), key=lambda k: abs(k - middle)):  # each row costs one intersection
        row = list(plan.scene.touching_row(plan.tiles, i))
        if row:
            break
    if not row:
        return 0.0
    start = max(0, (len(row) - samples) // 2)
    timed = row[start:start + samples]
    with SceneReader(plan.scene, plan.tiles.tile) as reader:
        reader.read(row[0] if row[0] not in timed else row[-1])
        started = time.perf_counter()
        for tile in timed:
            reader.read(tile)
        return (time.perf_counter() - started) / len(timed)


def measure_file_seconds(size: int = 1024) -> float:
    """Seconds to create, fill, finish and verify a ``size`` x ``size`` map in a temporary folder."""
    grid = {"crs": "EPSG:3857", "transform": Affine(1.0, 0, 0, 0, -1.0, size), "width": size, "height": size}
    pixels = np.broadcast_to(np.arange(size, dtype=np.uint8), (3, size, size)).copy()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        sink = GeoTiffSink(Path(folder) / "probe.tif", grid, write_mask=True)
        sink.write_pixels(0, pixels, np.ones((size, size), bool))
        sink.commit()
        return time.perf_counter() - started


def process_seconds() -> float:
    """Seconds since this process started (Linux's /proc; 0.0 where it cannot be read): what a run of the same
    command line spends before its work, starting Python and importing torch."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in clock ticks after boot
        return max(0.0, float(Path("/proc/uptime").read_text().split()[0]) - started)
    except (OSError, ValueError, IndexError):
        return 0.0


def measure_model_seconds(model: ModelInfo) -> float:
    """Seconds to read the model's file and build its generator, as a run does."""
    from geotrans.model.weights import load_generator

    started = time.perf_counter()
    load_generator(model.path, announce=False)
    return time.perf_counter() - started


def measure_rates(plan: RunPlan, ngf: int, device: str = "auto", planning_seconds: float = 0.0,
                  launch_seconds: float = 0.0, model: Optional[ModelInfo] = None) -> Rates:
    """The generator's rate at width ``ngf`` in the plan's precision, the plan's read cost and a map file's
    cost per pixel, all measured now; ``planning_seconds``, what making ``plan`` took, ``launch_seconds``, the
    process's start, and loading ``model``, which a run spends again."""
    tiles_per_second, first_use = measure_generator(ngf, device, plan.options.batch_size,
                                                    precision=plan.options.precision)
    probe = 1024
    return Rates(tiles_per_second, measure_read_seconds(plan), planning_seconds + first_use,
                 measure_file_seconds(probe) / probe ** 2, launch_seconds,
                 measure_model_seconds(model) if model is not None else 0.0)


def estimate_seconds(plan: RunPlan, rates: Optional[Rates]) -> Optional[float]:
    """The plan's windows and map pixels at ``rates``; None without rates."""
    if rates is None:
        return None
    return (rates.launch_seconds + rates.model_seconds + rates.start_seconds
            + plan.tiles_to_run * rates.seconds_per_tile + plan.map_pixels * rates.pixel_seconds)


def facts(plan: RunPlan, rates: Optional[Rates] = None) -> dict:
    """What `geotrans info` reports, as data (``--json`` prints it; ``describe`` formats it)."""
    scene, profile, grid = plan.scene, plan.scene.profile, plan.scene.grid
    seconds = estimate_seconds(plan, rates)
    model = plan.model_info
    learnt = LearntColours.from_card(model.card) if scene.colours is not None else None  # measured only then
    return {
        "scene": plan.src,
        "width": profile["width"], "height": profile["height"], "dtype": profile["dtype"],
        "crs": profile["crs"].to_string() if profile["crs"] else None,
        "resolution": {"scene_m": grid.scene_gsd_m, "model_m": grid.model_gsd_m, "processing_m": grid.gsd_m,
                       "resampling": grid.resampling.name if grid.resampled else None,
                       "processing_width": grid.width, "processing_height": grid.height},
        "bands": list(scene.band_plan.bands),
        "stretch": [list(pair) for pair in scene.band_plan.stretch] if scene.band_plan.stretch else None,
        "valid_fraction": scene.footprint.area / (grid.width * grid.height),
        "windows": {"to_run": plan.tiles_to_run, "to_skip": len(plan.tiles) - plan.tiles_to_run,
                    "total": len(plan.tiles), "size": plan.tiles.tile, "overlap": plan.tiles.overlap},
        "beyond_limits": plan.beyond_limits,
        "expect": list(plan.expectations),
        "colours": None if scene.colours is None else {
            "mean": list(scene.colours.mean), "spread": list(scene.colours.std),
            "distance": learnt.distance(scene.colours), "limit": learnt.limit},
        "estimate": None if seconds is None else {
            "seconds": seconds, "generator_tiles_per_second": rates.tiles_per_second,
            "read_seconds_per_window": rates.read_seconds, "start_seconds": rates.start_seconds,
            "file_seconds_per_megapixel": rates.pixel_seconds * 1e6,
            "launch_seconds": rates.launch_seconds, "model_seconds": rates.model_seconds,
            "tiles_per_second_end_to_end": (plan.tiles_to_run / seconds) if seconds else None,
            "cpu_cores": os.cpu_count()},
        "model": None if model is None else {"name": model.name, "sha256": model.sha256, "ngf": model.ngf,
                                             "palette_colours": len(plan.palette.colours) if plan.palette else 0,
                                             "summary": model_summary(model)},
    }


SUMMARY_SCORES = (("street F1", "street_f1"), ("water IoU", "water_iou"), ("green IoU", "green_iou"),
                  ("building IoU", "building_iou"))


def model_summary(model: ModelInfo) -> str:
    """One line from the model's card: what it is and, for a tuned model, its base and hold-out scores."""
    card = model.card
    text = f"{model.name} (ngf {model.ngf}, sha256 {model.sha256[:12]})"
    tune = card.get("tune")
    if tune:
        text += (f"; tuned from {tune['base']} for {tune['minutes']:g} min ({tune['steps']} steps) on "
                 f"{len(tune['areas'])} scene(s)")
        before, after = tune.get("hold_out_before", {}), tune.get("hold_out_after", {})
        scores = [f"{label} {before[key]:.2f} -> {after[key]:.2f}" for label, key in SUMMARY_SCORES
                  if before.get(key) is not None and after.get(key) is not None]
        if scores:
            text += "; hold-out " + ", ".join(scores)
    elif card.get("training", {}).get("sources"):
        text += "; trained on " + ", ".join(source["name"] for source in card["training"]["sources"])
    if card.get("licence"):
        text += f"; licence: {card['licence']}"
    return text


def describe(plan: RunPlan, rates: Optional[Rates] = None) -> list[str]:
    """The plan as the lines `geotrans info` prints (the same facts as ``facts``)."""
    f = facts(plan, rates)
    estimate = f["estimate"]
    estimate_text = (f"~{estimate['seconds']:.0f} s for the whole run ({estimate['tiles_per_second_end_to_end']:.1f} "
                     f"tiles/s end to end): {estimate['launch_seconds'] + estimate['model_seconds']:.1f} s to start "
                     f"and load the model, the generator alone at {estimate['generator_tiles_per_second']:.1f} "
                     f"tiles/s, {estimate['read_seconds_per_window'] * 1000:.0f} ms to read a window; measured on "
                     f"this machine ({estimate['cpu_cores']} CPU cores or its GPU)"
                     if estimate else "unknown (no model)")
    windows = f["windows"]
    lines = [
        f"scene        {f['scene']}",
        f"size         {f['width']} x {f['height']} px, {f['dtype']}, {f['crs'] or 'no CRS'}",
        f"resolution   {plan.scene.grid.describe()}",
        f"bands        {plan.scene.band_plan.describe()}",
        f"valid        {f['valid_fraction']:.1%} of the processing grid",
        f"windows      {windows['to_run']:,} to run, {windows['to_skip']:,} to skip (of {windows['total']:,})",
        f"estimate     {estimate_text}",
    ]
    lines += [f"expect       {expectation}" for expectation in f["expect"]]
    if f["beyond_limits"]:
        lines.append(f"limits       beyond them ({f['beyond_limits']}): `geotrans run` needs --yes to start it")
    if f["model"] is None:
        lines.append("model        none installed; ground resolution not compared")
    else:
        lines.append(f"model        {f['model']['summary']}")
    return lines
