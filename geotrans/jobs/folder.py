"""Folder mode's entry: plan a folder's scenes, load the model once, run them here or on Dask."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from geotrans.errors import InputError, OutputError
from geotrans.jobs.batch import DEFAULT_PATTERNS, BatchSummary, SceneResult, plan_jobs, run_batch
from geotrans.jobs.distributed import run_batch_dask
from geotrans.jobs.options import HERE, Cluster, FolderJob
from geotrans.model.weights import load_generator
from geotrans.run.options import RunOptions
from geotrans.vectors.vectorize import vectorize_folder
from geotrans.web.site import SiteEntry, write_site


def run_folder(job: FolderJob, options: RunOptions, model_path: Optional[str] = None,
               cluster: Cluster = HERE, on_jobs: Optional[Callable[[int], None]] = None,
               on_scene: Optional[Callable[[SceneResult], None]] = None,
               tile_progress: Optional[Callable[[int, int], None]] = None) -> BatchSummary:
    """Folder mode: the ``job``'s scenes into its output folder, each as ``options`` say, here or on the
    ``cluster``. ``on_jobs`` hears how many scenes there are."""
    out_dir = job.out_dir
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise OutputError(f"{out_dir}: is {'a file' if os.path.isfile(out_dir) else 'not a folder'}; folder mode "
                          "needs an output folder")
    jobs = plan_jobs(job.src, out_dir, job.patterns, job.recursive, job.list_file)
    if not jobs:
        where = job.src if job.list_file is None else job.list_file
        raise InputError(f"{where}: no scenes matching {', '.join(job.patterns or DEFAULT_PATTERNS)}")
    generator, model_info = load_generator(model_path)  # fails here, once, if there is no model
    if on_jobs is not None:
        on_jobs(len(jobs))
    if not cluster.here:
        return run_batch_dask(jobs, model_path, options, out_dir, cluster, job.force, on_scene)
    return run_batch(jobs, generator, model_info, options, out_dir, job.force, on_scene, tile_progress)


def web_summary(summary: BatchSummary, maps_dir: str, web: str) -> Path:
    """The web site of a folder run's finished maps (done or current), each over its scene, named by its path
    in the output folder."""
    entries = [SiteEntry(r.dst, r.src, name=str(Path(r.dst).relative_to(maps_dir).with_suffix("")))
               for r in summary.results if r.status in ("done", "current")]
    return write_site(entries, web)


def vectorize_summary(summary: BatchSummary, maps_dir: str, vectors_dir: str, force: bool = False,
                      overwrite: bool = False) -> dict[str, str]:
    """Features of a folder run's finished maps (done or current), one GeoPackage each in ``vectors_dir``;
    map -> "written", "current" or the one-line error."""
    maps = [r.dst for r in summary.results if r.status in ("done", "current")]
    return vectorize_folder(maps, maps_dir, vectors_dir, force=force, overwrite=overwrite)
