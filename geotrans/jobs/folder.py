"""Folder mode's entry: plan a folder's scenes, load the model once, run them here or on Dask."""
from __future__ import annotations

import os
from typing import Callable, Iterable, Optional

from geotrans.errors import InputError, OutputError
from geotrans.jobs.batch import DEFAULT_PATTERNS, BatchSummary, SceneResult, plan_jobs, run_batch
from geotrans.jobs.distributed import run_batch_dask
from geotrans.model.weights import load_generator
from geotrans.run.options import RunOptions
from geotrans.vectors.vectorize import vectorize_folder


def run_folder(src: Optional[str], out_dir: str, options: RunOptions, model_path: Optional[str] = None,
               patterns: Iterable[str] = (), recursive: bool = False, list_file: Optional[str] = None,
               force: bool = False, scheduler: Optional[str] = None, local_workers: Optional[int] = None,
               on_jobs: Optional[Callable[[int], None]] = None,
               on_scene: Optional[Callable[[SceneResult], None]] = None,
               tile_progress: Optional[Callable[[int, int], None]] = None) -> BatchSummary:
    """Folder mode: every scene of ``src`` (or of ``list_file``) into ``out_dir``, serially or on Dask
    (``scheduler``, or a LocalCluster of ``local_workers``). ``on_jobs`` hears how many scenes there are."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise OutputError(f"{out_dir}: is {'a file' if os.path.isfile(out_dir) else 'not a folder'}; folder mode "
                          "needs an output folder")
    jobs = plan_jobs(src, out_dir, patterns, recursive, list_file)
    if not jobs:
        where = src if list_file is None else list_file
        raise InputError(f"{where}: no scenes matching {', '.join(tuple(patterns) or DEFAULT_PATTERNS)}")
    generator, model_info = load_generator(model_path)  # fails here, once, if there is no model
    if on_jobs is not None:
        on_jobs(len(jobs))
    if scheduler or local_workers:
        return run_batch_dask(jobs, model_path, options, out_dir, force, scheduler, local_workers, on_scene)
    return run_batch(jobs, generator, model_info, options, out_dir, force, on_scene, tile_progress)


def vectorize_summary(summary: BatchSummary, maps_dir: str, vectors_dir: str, force: bool = False,
                      overwrite: bool = False) -> dict[str, str]:
    """Features of a folder run's finished maps (done or current), one GeoPackage each in ``vectors_dir``;
    map -> "written", "current" or the one-line error."""
    maps = [r.dst for r in summary.results if r.status in ("done", "current")]
    return vectorize_folder(maps, maps_dir, vectors_dir, force=force, overwrite=overwrite)
