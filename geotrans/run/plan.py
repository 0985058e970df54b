"""Plan, then execute: everything decided about a run before any pixel is translated.

``plan_run`` inspects the scene once and returns a frozen ``RunPlan``: the scene's
facts, the tile grid on the processing grid, the map's grid, whether the map is
warped back onto the scene's grid, the provenance tags and the job's identity.
``geotrans.run.pipeline.translate`` executes a plan, ``geotrans info`` formats one,
and ``--preview``, provenance and folder resume read the same plan.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from typing import Optional

import rasterio

from geotrans import __version__
from geotrans.errors import InputError
from geotrans.io.scene import SceneInfo, inspect_scene
from geotrans.io.tiler import TileGrid
from geotrans.model.colours import LearntColours
from geotrans.model.legend import legend_text
from geotrans.model.palette import Palette
from geotrans.model.style import MAP_CLASSES_TAG
from geotrans.model.weights import ModelInfo
from geotrans.run.options import RunOptions

MAX_WINDOWS_TO_RUN = 1_000_000  # about 14 hours on a 2-core CPU, an hour on a GPU: beyond it, --yes
MAX_MAP_PIXELS = 10**10  # 100,000 px a side: beyond it the map alone is tens of GB, whatever it holds
INSPECT_GDAL_CACHE = 64 * 2**20  # decimated reads for statistics touch every block; don't let them fill RAM


@dataclass(frozen=True)
class RunPlan:
    """One scene's run, decided: what ``translate`` executes and ``info`` shows."""

    options: RunOptions
    scene: SceneInfo
    tiles: TileGrid  # the windows the model reads, on the processing grid
    map_grid: dict  # crs, transform, width, height of the map written
    warp_back: bool  # mosaicked on the model's grid first, then warped onto the scene's
    tags: dict  # provenance written into the map
    model_info: Optional[ModelInfo] = None
    palette: Optional[Palette] = None  # the colours the map's pixels snap to, if any
    expectations: tuple[str, ...] = ()  # what this scene will likely get wrong, known before a pixel is drawn

    @property
    def src(self) -> str:
        return self.scene.path

    @cached_property
    def tiles_to_run(self) -> int:
        """Windows that touch the footprint (an upper bound: a touching window may still hold no valid pixel)."""
        return self.scene.count_touching(self.tiles)

    @property
    def map_pixels(self) -> int:
        return self.map_grid["width"] * self.map_grid["height"]

    @property
    def beyond_limits(self) -> Optional[str]:
        """Which of geotrans's size limits the plan passes (``MAX_WINDOWS_TO_RUN`` windows to run, a map of
        ``MAX_MAP_PIXELS``: a VRT can declare a million pixels a side); None within them."""
        passed = [f"{self.tiles_to_run:,} windows to run, over {MAX_WINDOWS_TO_RUN:,}"] \
            if self.tiles_to_run > MAX_WINDOWS_TO_RUN else []
        if self.map_pixels > MAX_MAP_PIXELS:
            passed.append(f"a map of {self.map_grid['width']:,} x {self.map_grid['height']:,} px, over "
                          f"{MAX_MAP_PIXELS:.0e} px")
        return "; ".join(passed) or None

    def check_size(self) -> None:
        """Refuse, in one line, a plan beyond the limits (``beyond_limits``) unless ``options.huge`` (--yes)."""
        if self.beyond_limits and not self.options.huge:
            raise InputError(f"{self.src}: the plan is beyond geotrans's limits ({self.beyond_limits}); "
                             "nothing was run", hint="check the scene's size (geotrans info), or pass --yes to run it")

    def job_identity(self) -> dict:
        """What makes the output what it is: the options' identity fields and the model's hash."""
        return {"params": self.options.identity(),
                "model": self.model_info.sha256 if self.model_info is not None else None}


def plan_run(src: str | os.PathLike, options: RunOptions = RunOptions(),
             model_info: Optional[ModelInfo] = None) -> RunPlan:
    """Inspect ``src`` (once) and decide how to translate it; raises InputError for scenes geotrans can't use."""
    learnt = LearntColours.from_card(model_info.card) if model_info else None
    with rasterio.Env(GDAL_CACHEMAX=INSPECT_GDAL_CACHE):
        scene = inspect_scene(src, options.bands, model_info.resolution_m if model_info else None, options.gsd,
                              options.allow_ungeoreferenced, options.aoi, options.resampling, options.nodata,
                              colours=learnt is not None)
    tiles = TileGrid(scene.grid.height, scene.grid.width, options.tile_size, options.overlap)
    expectations = scene_expectations(scene, learnt)
    tags = provenance_tags(scene, options, model_info)
    if expectations:
        tags[EXPECTATIONS_TAG] = json.dumps(list(expectations))
    return RunPlan(options=options, scene=scene, tiles=tiles, map_grid=scene.output_grid(model_grid=options.native_res),
                   warp_back=scene.grid.resampled and not options.native_res, tags=tags, model_info=model_info,
                   palette=Palette.from_card(model_info.card) if model_info and options.palette == "auto" else None,
                   expectations=expectations)


EXPECTATIONS_TAG = "GEOTRANS_EXPECT"  # what the map of this scene likely gets wrong (``scene_expectations``)
COARSE_M = 2.0  # scenes coarser than this lose what the model reads fields, ponds and lanes by


def scene_expectations(scene: SceneInfo, learnt: Optional[LearntColours] = None) -> tuple[str, ...]:
    """What the map of ``scene`` will likely get wrong, known from the scene alone (docs/model.md's known
    failures): a scene coarser than ``COARSE_M`` metres a pixel (the model learnt 0.3-1 m imagery; at 4-5 m
    dry fields are drawn as water and narrow roads are lost), a single band (no colour: water, green and
    buildings go undrawn, roads remain), and the scene's colours unlike those the model ``learnt`` from."""
    found = []
    gsd = scene.grid.scene_gsd_m
    if gsd is not None and gsd > COARSE_M:
        found.append(f"{gsd:.3g} m pixels, coarser than about {COARSE_M:g} m: expect dry fields drawn as water "
                     "and narrow roads lost (the model learnt 0.3-1 m imagery)")
    if len(set(scene.band_plan.bands)) == 1:
        found.append("one band (grey): expect roads and built land only; water, green and buildings need the "
                     "colour of three bands (R, G, B)")
    unlike = learnt.unlike(scene.colours) if learnt is not None and scene.colours is not None else None
    if unlike:
        found.append(unlike)
    return tuple(found)


LEGEND_TAG = "GEOTRANS_LEGEND"  # the map's colours and what each draws, for a reader of its metadata


def provenance_tags(scene: SceneInfo, options: RunOptions, model_info: Optional[ModelInfo]) -> dict:
    """GEOTRANS_* tags: version, source, the options' identity fields, and the model."""
    tags = {"GEOTRANS_VERSION": __version__, "GEOTRANS_SOURCE": os.path.basename(scene.source),
            "GEOTRANS_PARAMS": json.dumps(options.identity(), sort_keys=True)}
    if model_info is not None:
        tags.update(GEOTRANS_MODEL=model_info.name, GEOTRANS_MODEL_SHA256=model_info.sha256,
                    GEOTRANS_LICENCE=model_info.licence,
                    # the TIFF copyright tag: what QGIS's layer information and gdalinfo show as the map's terms
                    TIFFTAG_COPYRIGHT=f"Map drawn by geotrans with {model_info.name}. Licence: {model_info.licence}")
        if model_info.card.get("map_classes"):  # what `geotrans vectorize` classes the map's pixels by
            tags[MAP_CLASSES_TAG] = json.dumps(model_info.card["map_classes"], sort_keys=True)
            tags[LEGEND_TAG] = legend_text(model_info.card["map_classes"])
    return tags
