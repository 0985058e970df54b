"""``geotrans vectorize``: a map into GIS layers (``geotrans.vectors``).
"""
from __future__ import annotations

import os
import re
from typing import Optional

import click

from geotrans.cli.console import error_boundary, import_pipeline, setup_logging
from geotrans.cli.options import QUIET_OPTION, VERBOSE_OPTION, Number
from geotrans.errors import InputError


@click.command(short_help="Turn a map into GIS layers: roads, water, green, buildings.")
@click.argument("map_path", metavar="MAP", type=click.Path(path_type=str))
@click.option("--out", "-o", "dst", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The GeoPackage to write: layers roads, water, green and buildings.")
@click.option("--model", "model_path", type=click.Path(path_type=str), default=None,
              help="The model that made the map, for its class colours when the map does not record them.")
@click.option("--min-area", type=Number(min=0), default=None, metavar="M2",
              help="Drop polygons smaller than this many m². Default: 20 m² or 4 pixels, whichever is larger; "
                   "0 keeps every one.")
@click.option("--strip-rows", type=click.IntRange(min=64), default=None, metavar="ROWS",
              help="Rows read at once (default 1024): memory follows the map's width times this, not its height.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@VERBOSE_OPTION
@QUIET_OPTION
def vectorize(map_path: str, dst: str, model_path: Optional[str], min_area: Optional[float],
              strip_rows: Optional[int],
              overwrite: bool, verbose: int, quiet: bool) -> None:
    """Turn a geotrans map into GIS layers: roads as centre lines, water, green and buildings as polygons.

    \b
    Examples:
      geotrans vectorize map.tif --out features.gpkg
      geotrans vectorize map.tif -o features.gpkg --min-area 100
      geotrans run scene.tif --out map.tif --vectors features.gpkg

    \b
    Pixels are classed by the nearest colour of the map style (recorded in the
    map). Polygons keep their holes and are simplified to half a pixel; roads
    end at junctions and dead ends and carry their class, width and length.
    Everything is in the map's CRS; the file appears only when complete.
    """
    setup_logging(verbose, quiet)
    with error_boundary(verbose, f"interrupted; nothing was written to {dst}"):
        import_pipeline()
        from geotrans.io.scene import is_gdal_path
        from geotrans.io.targets import check_name
        from geotrans.model.style import MapStyle
        from geotrans.model.weights import card_path, read_model_info
        from geotrans.vectors.vectorize import VectorOptions, vectorize_map

        check_name(map_path, "map", InputError)
        gdal_name = is_gdal_path(map_path) or re.match(r"^[A-Z][A-Z0-9_]+:", map_path)  # /vsizip/, GTI:, ...
        if not gdal_name and not os.path.lexists(map_path):  # GDAL's own names open as a run's do
            raise InputError(f"{map_path}: no such file")
        style = MapStyle.from_card(read_model_info(model_path).card) if model_path else None
        options = VectorOptions(min_area_m2=min_area, **({"strip_rows": strip_rows} if strip_rows else {}))
        inputs = (model_path, str(card_path(model_path))) if model_path else ()
        vectorize_map(map_path, dst, style, options, overwrite, inputs)  # says what it wrote, once, in the log
