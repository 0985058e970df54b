"""``geotrans web``: maps as web tiles over their scenes, with a viewer page (``geotrans.web``)."""
from __future__ import annotations

import os
import sys
from typing import Optional

import click

from geotrans.cli.console import error_boundary, import_pipeline, progress_bar, setup_logging
from geotrans.cli.options import QUIET_OPTION, VERBOSE_OPTION
from geotrans.errors import InputError


@click.command(short_help="Web tiles of maps over their scenes, and a page to view them.")
@click.argument("maps", metavar="[MAP]...", nargs=-1, type=click.Path(path_type=str))
@click.option("--out", "-o", "dst", required=True, type=click.Path(file_okay=False, path_type=str),
              help="The site's folder (new, empty, or a site geotrans wrote): index.html and the tiles.")
@click.option("--scene", "scenes", multiple=True, type=click.Path(path_type=str), metavar="SCENE",
              help="The scene a MAP was made from, shown beneath it (once per MAP, in order).")
@click.option("--max-zoom", type=click.IntRange(0, 24), default=None,
              help="The most detailed zoom (default: the map's own resolution).")
@click.option("--format", "tile_format", type=click.Choice(["xyz", "pmtiles"]), default="xyz", show_default=True,
              help="xyz: a folder of PNG tiles, opens from file:// with no server; pmtiles: one archive per "
                   "layer, one file to copy or host, read over HTTP (--serve).")
@click.option("--serve", is_flag=True,
              help="Serve the site on this machine (127.0.0.1) and print its address; Ctrl-C stops. With no MAP, "
                   "serves the site already at --out.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="The port --serve listens on (0: any free one).")
@click.option("--progress", "progress_mode", type=click.Choice(["bar", "json"]), default="bar", show_default=True,
              help="How progress is shown on stderr.")
@VERBOSE_OPTION
@QUIET_OPTION
def web(maps: tuple[str, ...], dst: str, scenes: tuple[str, ...], max_zoom: Optional[int], tile_format: str,
        serve: bool, port: int, progress_mode: str, verbose: int, quiet: bool) -> None:
    """Write web tiles of each MAP (EPSG:3857 PNGs) over its scene's, and a viewer at OUT/index.html.

    \b
    Examples:
      geotrans web map.tif --scene scene.tif --out site/
      geotrans run scene.tif --out map.tif --web site/
      geotrans web map.tif --scene scene.tif --out site/ --format pmtiles --serve
      geotrans web --serve --out site/

    \b
    Open OUT/index.html in a browser (no server, no network): the map over the
    scene with a swipe or an opacity slider, the legend, the model, its licence
    and a scale bar. In QGIS, load OUT/qgis-xyz-connections.xml (Browser >
    XYZ Tiles > Load Connections): each map and its scene are layers. A
    PMTiles site is read over HTTP: --serve, then open the address it prints.
    """
    setup_logging(verbose, quiet)
    if not maps and not serve:
        raise click.UsageError("give the MAPs to put on the site, or --serve to serve the site at --out")
    if scenes and len(scenes) != len(maps):
        raise click.UsageError(f"--scene is given {len(scenes)} time(s) for {len(maps)} map(s): once per map")
    if maps:
        with error_boundary(verbose, f"interrupted; {dst} was left as it was"), \
                progress_bar("tiles", "tiles", quiet, progress_mode) as bar:
            import_pipeline()
            from geotrans.web.site import SiteEntry, write_site

            for path in (*maps, *scenes):
                if not os.path.isfile(path):
                    raise InputError(f"{path}: no such file")
            entries = [SiteEntry(m, scenes[i] if scenes else None) for i, m in enumerate(maps)]
            folder = write_site(entries, dst, max_zoom, progress=bar.update, on_total=bar.reset,
                                tile_format=tile_format)
        if not quiet and not serve:
            click.echo(f"wrote {folder / 'index.html'}: " + ("open it in a browser" if tile_format == "xyz" else
                       f"PMTiles are read over HTTP: geotrans web --serve --out {dst}, then open the address"))
    if serve:
        serve_site(dst, port, verbose)


def serve_site(folder: str, port: int, verbose: int) -> None:
    """Serve the site in ``folder`` until Ctrl-C, saying where (on stdout, so that a script can read it)."""
    with error_boundary(verbose, "stopped serving"):
        from geotrans.web.serve import address, site_server, xyz_templates

        server = site_server(folder, port)
        click.echo(f"serving {folder} at {address(server, 'index.html')} (Ctrl-C stops)")
        for name, template in xyz_templates(server):  # QGIS 3.22 reads no PMTiles: these are its XYZ layers
            click.echo(f"QGIS XYZ layer {name}: {template}")
        sys.stdout.flush()
        try:
            server.serve_forever()
        finally:
            server.server_close()
