"""Shared command-line options and parameter types, as ``rio``'s options module: each option is made
once here and applied to every command that takes it (click makes a fresh Option each time).
"""
from __future__ import annotations

import math
import re

import click

from geotrans.io.resolution import RESAMPLINGS
from geotrans.io.tiler import DEFAULT_OVERLAP


class OneLineParam(click.ParamType):
    """A parameter type whose bad values get geotrans's one-line error, not click's usage block."""

    def fail_one_line(self, message: str):
        raise click.ClickException(message)


class Bands(OneLineParam):
    name = "R,G,B"

    def convert(self, value, param, ctx) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        try:
            bands = tuple(int(part) for part in str(value).split(","))
        except ValueError:
            self.fail_one_line(f"--bands takes 1-based band numbers like 1,2,3, not {value!r}")
        if len(bands) not in (1, 3):
            self.fail_one_line(f"--bands takes three bands (R,G,B) or one (grey), not {len(bands)}")
        return bands


class CreationOption(OneLineParam):
    name = "KEY=VALUE"

    def convert(self, value, param, ctx) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        key, sep, option = str(value).partition("=")
        if not sep or not key.strip() or not option.strip():
            self.fail_one_line(f"--co takes a GDAL creation option as KEY=VALUE (e.g. ZLEVEL=9), not {value!r}")
        return key.strip().upper(), option.strip()


class LocalCluster(OneLineParam):
    name = "local:N"

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        kind, _, count = str(value).partition(":")
        if kind.lower() != "local" or not count.isdigit() or int(count) < 1:
            self.fail_one_line(f"--cluster: a local cluster is local:N (N worker processes), not {value!r}")
        return int(count)


class SchedulerAddress(OneLineParam):
    """A Dask scheduler's address: ``[tcp|tls|ucx|ws|wss://]HOST:PORT`` (an IPv6 host in brackets), or
    ``inproc://`` (a cluster in this process, as the tests start)."""

    name = "tcp://HOST:8786"
    FORM = re.compile(r"(?:(?:tcp|tls|ucx|ws|wss)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})")

    def convert(self, value, param, ctx) -> str:
        text = str(value).strip()
        if text.startswith("inproc://") and len(text) > len("inproc://") and not any(c.isspace() for c in text):
            return text
        match = self.FORM.fullmatch(text)
        if not match or not 0 < int(match.group(2)) < 65536:
            self.fail_one_line(f"--scheduler takes a Dask scheduler's address like tcp://HOST:8786, not {value!r}")
        return text


class GroupedCommand(click.Command):
    """A command whose --help lists its options in groups, as the manual presents them: ``groups`` maps a
    heading to option names; options in no group come last, under "Other options"."""

    def __init__(self, *args, groups: dict[str, tuple[str, ...]], **kwargs):
        super().__init__(*args, **kwargs)
        self.groups = groups

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        help_option = self.get_help_option(ctx)
        records = {"help" if param is help_option else param.name: param.get_help_record(ctx)
                   for param in self.get_params(ctx) if isinstance(param, click.Option)}
        placed = set()
        for heading, names in self.groups.items():
            rows = [records[name] for name in names if records.get(name)]
            placed.update(names)
            if rows:
                with formatter.section(heading):
                    formatter.write_dl(rows)
        rest = [record for name, record in records.items() if record and name not in placed]
        if rest:
            with formatter.section("Other options"):
                formatter.write_dl(rest)


# Scene options shared by `run` and `info` (click makes a fresh Option each time one is applied).
VERBOSE_OPTION = click.option(
    "-v", "--verbose", count=True, help="More log detail (and tracebacks of internal errors).")
MODEL_OPTION = click.option(
    "--model", "model_path", type=click.Path(path_type=str), default=None,
    help="Exported generator (.safetensors). Default: the model shipped with geotrans.")
OVERLAP_OPTION = click.option(
    "--overlap", default=DEFAULT_OVERLAP, show_default=True, type=int,
    help="Pixels shared by neighbouring 256 px tiles (0 to 128), blended with a cosine ramp.")
BANDS_OPTION = click.option(
    "--bands", "-b", "bands", default=None, type=Bands(),
    help="1-based bands to use as R,G,B (or one band for grey). Default: from the colour interpretation, "
         "else the first three.")
AOI_OPTION = click.option(
    "--aoi", type=click.Path(dir_okay=False, path_type=str), default=None, metavar="FILE",
    help="Only process windows touching this area; mask outside. Any vector file GDAL reads (GeoJSON, "
         "GeoPackage, Shapefile, FlatGeobuf, KML), in its own CRS (GeoJSON without one: WGS84); a layer other "
         "than the first as FILE|layername=NAME.")
class Number(click.FloatRange):
    """A number within a range that is a number: click's FloatRange lets nan through (every comparison with
    it is false) and inf past an open bound; a wait or a budget of nan or inf never ends."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


NODATA_OPTION = click.option(
    "--nodata", default=None, metavar="VALUE|none",
    help="The scene's nodata value, overriding the file's (rio's --nodata): pixels of this value stay "
         "transparent; none: every pixel is data.")
GSD_OPTION = click.option(
    "--gsd", type=float, default=None, metavar="METRES",
    help="The scene's ground resolution, for scenes whose scale is wrong or missing.")
RESAMPLING_OPTION = click.option(
    "--resampling", type=click.Choice(RESAMPLINGS), default="auto", show_default=True,
    help="How the scene is read at the model's resolution; auto: average when the scene is finer, bilinear "
         "when it is coarser.")
UNGEO_OPTION = click.option(
    "--allow-ungeoreferenced", is_flag=True, help="Process a scene without CRS in pixel space.")
QUIET_OPTION = click.option(  # one meaning in every command: no progress or notes, still warnings and errors
    "-q", "--quiet", is_flag=True, help="Only warnings and errors: no progress bar, no notes.")
PROFILE_OPTION = click.option("--profile", default="default", show_default=True, help="The QGIS profile.")
PROFILES_PATH_OPTION = click.option(
    "--profiles-path", type=click.Path(file_okay=False, path_type=str), default=None,
    help="QGIS's profiles folder (as QGIS's own --profiles-path). Default: this platform's.")


# The flag of each library option whose name it does not spell (``GeotransError``'s ``{name}``): the rest are
# ``--`` and the name with dashes.
FLAGS = {"creation_options": "--co", "dropout_seed": "--dropout", "local_workers": "--cluster"}


def flag_of(name: str) -> str:
    """The command line's flag for the library option ``name``."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))
