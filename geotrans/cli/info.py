"""``geotrans info``: what ``geotrans run`` would do with a scene, without running the model.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Optional

import click

from geotrans.cli.console import error_boundary, import_pipeline, setup_logging
from geotrans.cli.options import (
    AOI_OPTION,
    BANDS_OPTION,
    GSD_OPTION,
    MODEL_OPTION,
    NODATA_OPTION,
    OVERLAP_OPTION,
    QUIET_OPTION,
    RESAMPLING_OPTION,
    UNGEO_OPTION,
)
from geotrans.interrupts import interruptible
from geotrans.io.network import apply_http_settings
from geotrans.run.options import RunOptions

log = logging.getLogger("geotrans")


@click.command(short_help="Say what `geotrans run` would do with a scene, without running.")
@click.argument("src", type=click.Path(path_type=str))
@MODEL_OPTION
@BANDS_OPTION
@OVERLAP_OPTION
@GSD_OPTION
@NODATA_OPTION
@RESAMPLING_OPTION
@AOI_OPTION
@UNGEO_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the facts as one JSON object, for scripts.")
@click.option("-v", "--verbose", count=True, help="Log what is done on the way (and tracebacks of internal errors).")
@QUIET_OPTION
def info(src: str, model_path: Optional[str], bands: Optional[tuple[int, ...]], overlap: int, gsd: Optional[float],
         nodata: Optional[str],
         resampling: str, aoi: Optional[str], allow_ungeoreferenced: bool, as_json: bool, verbose: int,
         quiet: bool) -> None:
    """Say what `geotrans run` would do with SRC, without running the model.

    \b
    Size, CRS and ground resolution against the model's; the bands and their
    scaling; the valid fraction; the windows to run and to skip; a time estimate.

    \b
    Examples:
      geotrans info sample_tiles/landsat_rgb_nodata_utm.tif
      geotrans info scene.tif --json | jq .windows.to_run
    """
    setup_logging(verbose, not verbose)
    apply_http_settings()
    with error_boundary(verbose):
        import_pipeline()
        from geotrans.run.info import describe, facts, measure_rates, process_seconds
        from geotrans.run.plan import plan_run

        launched = process_seconds()  # a run pays its start as this command did, up to here
        model_info = _model_info_or_none(model_path)
        options = RunOptions(overlap=overlap, bands=bands, gsd=gsd, nodata=nodata, resampling=resampling, aoi=aoi,
                             allow_ungeoreferenced=allow_ungeoreferenced)
        started = time.perf_counter()
        plan = interruptible(lambda: plan_run(src, options, model_info))
        planning = time.perf_counter() - started
        rates = None if model_info is None else measure_rates(plan, model_info.ngf, planning_seconds=planning,
                                                              launch_seconds=launched, model=model_info)
        if as_json:
            click.echo(json.dumps(facts(plan, rates)))
        else:
            for line in describe(plan, rates):
                click.echo(line)


def _model_info_or_none(model_path: Optional[str]):
    """The model's header (no generator is built); None when no model is installed and none was named."""
    from geotrans.errors import NoModelError
    from geotrans.model.weights import read_model_info

    try:
        return read_model_info(model_path)
    except NoModelError:
        if model_path is not None:
            raise
        return None
