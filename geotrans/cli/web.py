"""``geotrans web``: maps as web tiles over their scenes, with a viewer page (``geotrans.web``)."""
from __future__ import annotations

import os
from typing import Optional

import click

from geotrans.cli.console import error_boundary, import_pipeline, progress_bar, setup_logging
from geotrans.cli.options import QUIET_OPTION, VERBOSE_OPTION
from geotrans.errors import InputError


@click.command(short_help="Web tiles of maps over their scenes, and a page to view them.")
@click.argument("maps", metavar="MAP...", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--out", "-o", "dst", required=True, type=click.Path(file_okay=False, path_type=str),
              help="The site's folder (new, empty, or a site geotrans wrote): index.html and the tiles.")
@click.option("--scene", "scenes", multiple=True, type=click.Path(path_type=str), metavar="SCENE",
              help="The scene a MAP was made from, shown beneath it (once per MAP, in order).")
@click.option("--max-zoom", type=click.IntRange(0, 24), default=None,
              help="The most detailed zoom (default: the map's own resolution).")
@click.option("--progress", "progress_mode", type=click.Choice(["bar", "json"]), default="bar", show_default=True,
              help="How progress is shown on stderr.")
@VERBOSE_OPTION
@QUIET_OPTION
def web(maps: tuple[str, ...], dst: str, scenes: tuple[str, ...], max_zoom: Optional[int], progress_mode: str,
        verbose: int, quiet: bool) -> None:
    """Write web tiles of each MAP (EPSG:3857 XYZ PNGs) over its scene's, and a viewer at OUT/index.html.

    \b
    Examples:
      geotrans web map.tif --scene scene.tif --out site/
      geotrans run scene.tif --out map.tif --web site/

    \b
    Open OUT/index.html in a browser (no server, no network): the map over the
    scene with a swipe or an opacity slider, the legend, the model, its licence
    and a scale bar. In QGIS, load OUT/qgis-xyz-connections.xml (Browser >
    XYZ Tiles > Load Connections): each map and its scene are layers.
    """
    setup_logging(verbose, quiet)
    if scenes and len(scenes) != len(maps):
        raise click.UsageError(f"--scene is given {len(scenes)} time(s) for {len(maps)} map(s): once per map")
    with error_boundary(verbose, f"interrupted; {dst} was left as it was"), \
            progress_bar("tiles", "tiles", quiet, progress_mode) as bar:
        import_pipeline()
        from geotrans.web.site import SiteEntry, write_site

        for path in (*maps, *scenes):
            if not os.path.isfile(path):
                raise InputError(f"{path}: no such file")
        entries = [SiteEntry(m, scenes[i] if scenes else None) for i, m in enumerate(maps)]
        folder = write_site(entries, dst, max_zoom, progress=bar.update, on_total=bar.reset)
    if not quiet:
        click.echo(f"wrote {folder / 'index.html'}: open it in a browser")
