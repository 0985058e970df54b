"""The ``geotrans`` command group; each command lives in its own module of this package."""
from __future__ import annotations

import click

from geotrans import __version__
from geotrans.cli.info import info
from geotrans.cli.qgis import qgis
from geotrans.cli.run import run
from geotrans.cli.tune import tune
from geotrans.cli.vectorize import vectorize
from geotrans.cli.web import web


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geotrans")
def main() -> None:
    """Turn GeoTIFF satellite and aerial scenes into map-style GeoTIFFs with a pix2pix GAN.

    \b
    Examples:
      geotrans run scene.tif --out map.tif
      geotrans run scene.tif --out map.tif --model mine.safetensors -v
    """


for command in (run, vectorize, web, info, tune, qgis):
    main.add_command(command)
