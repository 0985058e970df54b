"""One scene's job, as ``geotrans run scene.tif --out map.tif`` does it: plan, load the model, translate
here (or split into strips over a Dask cluster), then the preview and the vectors asked for."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

from geotrans.errors import InputError, OutputError
from geotrans.interrupts import interruptible
from geotrans.io.footprint import aoi_file
from geotrans.jobs.distributed import check_scheduler
from geotrans.jobs.options import HERE, Cluster
from geotrans.jobs.paths import check_job_paths
from geotrans.jobs.split import splits, translate_split
from geotrans.model.weights import load_generator, read_model_info
from geotrans.run.options import RunOptions
from geotrans.run.pipeline import RunReport, translate
from geotrans.run.plan import plan_run
from geotrans.run.preview import write_preview
from geotrans.run.runner import resolved
from geotrans.vectors.vectorize import vectorize_map
from geotrans.web.site import SiteEntry, write_site

log = logging.getLogger(__name__)


def run_scene(src: str, dst: str, options: RunOptions, model_path: Optional[str] = None,
              preview: Optional[str] = None, vectors: Optional[str] = None, cluster: Cluster = HERE,
              progress: Optional[Callable[[int, int], None]] = None, paths_checked: bool = False,
              web: Optional[str] = None) -> RunReport:
    """The scene ``src`` translated into the map ``dst`` (the library's ``geotrans run``): on this machine, or
    in strips of rows on the ``cluster`` (an existing one, as one strip when it is too small to split; or a
    local cluster when the scene is large enough to split); then a ``preview`` PNG and the map's ``vectors``
    (a GeoPackage) and a ``web`` site of the map over the scene (``geotrans.web``) if asked for.
    ``progress`` hears (tiles just finished, tiles in all). Every output is checked first under the write rule
    (``geotrans.jobs.paths.check_job_paths``), unless the caller did (``paths_checked``: the CLI, before torch
    loads)."""
    on_cluster = not cluster.here
    if not paths_checked:  # the library is an entry point too
        check_job_paths(src, dst, False, preview, None, (options.aoi and aoi_file(options.aoi)[0], model_path),
                        options.overwrite, vectors, web)
    if preview and not Path(preview).resolve().parent.is_dir():
        raise OutputError(f"{preview}: its folder does not exist; nothing was run")
    if options.strip_rows is not None and not on_cluster:
        raise InputError("{strip_rows} applies to a scene split across a cluster ({local_workers} or {scheduler})",
                         options=["strip_rows", "local_workers", "scheduler"])
    if not on_cluster:  # a cluster's workers decide for themselves
        options = resolved(options)
    if cluster.scheduler is not None:
        check_scheduler(cluster.scheduler)  # before the plan: a scheduler that does not answer is said at once
    model_info = read_model_info(model_path)
    plan = interruptible(lambda: plan_run(src, options, model_info))  # a silent server cannot hold Ctrl-C
    plan.check_size()  # before the weights load: a VRT can declare a million pixels a side
    generator = None if on_cluster else load_generator(model_path)[0]
    if cluster.scheduler is not None or on_cluster and splits(plan):  # the workers load the model
        report = translate_split(plan, dst, model_path, cluster, progress=progress)
    else:
        if on_cluster:
            log.info("%s: too small to split; it runs here in one piece, not on the local cluster", src)
        generator = generator or load_generator(model_path)[0]
        report = translate(plan, dst, generator, progress=progress)
    if preview:
        write_preview(plan, report.dst, preview, overwrite=options.overwrite)
        log.info("wrote preview %s", preview)
    if vectors:
        vectorize_map(report.dst, vectors, overwrite=options.overwrite, inputs=(src,))
    if web:
        write_site([SiteEntry(str(report.dst), src)], web)
        log.info("wrote %s: open it in a browser", Path(web) / "index.html")
    return report
