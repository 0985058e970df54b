"""The ``geotrans`` command: parses options and calls the library.

One error boundary turns a library error into its one-line message (and hint)
with exit 1, and an interrupt into exit 130; nothing else is decided here.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import click
from tqdm import tqdm

from geotrans import __version__
from geotrans.errors import GeotransError, InputError, OutputError, one_line
from geotrans.interrupts import STOP_SIGNALS, import_pipeline, interruptible
from geotrans.network import apply_http_settings
from geotrans.options import COMPRESSION_NAMES, DEVICES, PRECISIONS, RunOptions
from geotrans.palette import PALETTES
from geotrans.resolution import RESAMPLINGS
from geotrans.targets import SUMMARY, Target, check_name, check_targets, disk_file, is_geotrans_log
from geotrans.tiler import DEFAULT_OVERLAP

# The pipeline (and torch with it) is imported inside the commands that run it, by import_pipeline, so that
# --help, --version and a mistyped option answer at once.

log = logging.getLogger("geotrans")

FOLDER_ONLY = ("patterns", "recursive", "force")
SINGLE_ONLY = ("preview", "strip_rows")


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


@contextmanager
def error_boundary(verbose: int = 0, interrupted: str = "interrupted") -> Iterator[None]:
    """Library error -> one line and exit 1; Ctrl-C or SIGTERM -> ``interrupted`` and exit 130;
    anything else -> one line naming an internal error (its traceback with -v)."""
    # SIGTERM (and Ctrl-Break on Windows, how the QGIS plugin cancels there) unwinds like Ctrl-C: temp files go.
    previous = {stop: signal.signal(stop, _raise_interrupt) for stop in STOP_SIGNALS}
    try:
        yield
    except GeotransError as err:
        raise click.ClickException(one_line(err) + (f"; {err.hint}" if err.hint else "")) from None
    except KeyboardInterrupt:
        click.echo(f"geotrans: {interrupted}", err=True)
        sys.exit(130)
    except click.exceptions.Exit:
        raise
    except Exception as err:  # a bug: one line unless -v asks for the traceback
        if verbose:
            raise
        raise click.ClickException(f"internal error: {type(err).__name__}: {one_line(err)} "
                                   "(run with -v for the traceback)") from None
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


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


RUN_OPTION_GROUPS = {
    "Input": ("bands", "gsd", "resampling", "aoi", "allow_ungeoreferenced", "http_timeout"),
    "Output": ("dst", "native_res", "cog", "compress", "creation_options", "preview", "vectors", "overwrite",
               "huge"),
    "Model": ("model_path", "palette", "tta", "dropout", "seed"),
    "Speed": ("device", "precision", "batch_size", "overlap", "compile_"),
    "Folders and clusters": ("patterns", "recursive", "list_file", "force", "scheduler", "cluster", "strip_rows"),
    "Messages": ("progress_mode", "log_file", "verbose", "quiet", "help"),
}


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


class JsonLogLine(logging.Formatter):
    """A log record as one JSON line (``--progress json``): {"log": "warning", "message": "..."}."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"log": record.levelname.lower(), "message": record.getMessage()})


def _setup_logging(verbose: int, quiet: bool, log_file: Optional[str] = None, json_lines: bool = False) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogLine() if json_lines else logging.Formatter("geotrans: %(message)s"))
    log.handlers[:] = [handler]
    if log_file:
        try:
            # appended to a geotrans log; anything else was let through only by --overwrite, and is replaced
            to_file = logging.FileHandler(log_file, mode="a" if is_geotrans_log(Path(log_file)) else "w")
        except OSError as err:
            raise click.ClickException(f"{log_file}: cannot write the log there ({err.strerror})") from None
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        to_file.setLevel(logging.DEBUG if verbose else logging.INFO)
        log.addHandler(to_file)
        handler.setLevel(level)
        level = min(level, to_file.level)
    log.setLevel(level)
    log.propagate = False


def _refuse_flags(ctx: click.Context, folder_mode: bool) -> None:
    """Flags that do not apply to this mode are refused, not ignored."""
    names, applies_to, mode = (SINGLE_ONLY, "a single scene", "folder mode") if folder_mode else \
        (FOLDER_ONLY, "folder mode", "a single scene")
    for name in names:
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            option = next(p for p in ctx.command.params if p.name == name)
            raise click.ClickException(f"{option.opts[0]} applies to {applies_to}, not to {mode}")


class JsonProgress:
    """tqdm's ``reset``/``update`` as one JSON line per update on stderr (``--progress json``), for programs
    such as a QGIS provider: {"progress": "tiles", "done": 12, "total": 25}."""

    def __init__(self, unit: str):
        self.unit, self.n, self.total = unit, 0, 0

    def __enter__(self) -> "JsonProgress":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def reset(self, total: Optional[int] = None) -> None:
        self.n, self.total = 0, total or 0
        self._emit()

    def update(self, n: int = 1) -> None:
        self.n += n
        self._emit()

    def _emit(self) -> None:
        click.echo(json.dumps({"progress": self.unit, "done": self.n, "total": self.total}), err=True)


def _bar(unit: str, desc: str, quiet: bool, progress: str = "bar", position: int = 0):
    """The progress display: a tqdm bar on a terminal (none with -q), or JSON lines with ``--progress json``."""
    if progress == "json":
        return JsonProgress(unit)
    return tqdm(total=0, unit=unit, desc=desc, position=position, leave=position == 0, dynamic_ncols=True,
                disable=quiet or not sys.stderr.isatty())


def _follow(bar):
    """A progress callback (tiles just finished, tiles in all) that drives ``bar``, scene after scene."""
    def progress(finished: int, total: int) -> None:
        if bar.total != total or bar.n >= total:
            bar.reset(total)
        bar.update(finished)
    return progress


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
    "--bands", default=None, type=Bands(),
    help="1-based bands to use as R,G,B (or one band for grey). Default: from the colour interpretation, "
         "else the first three.")
AOI_OPTION = click.option(
    "--aoi", type=click.Path(dir_okay=False, path_type=str), default=None, metavar="FILE.geojson",
    help="Only process windows touching this area (WGS84 GeoJSON unless it names a CRS); mask outside.")
GSD_OPTION = click.option(
    "--gsd", type=float, default=None, metavar="METRES",
    help="The scene's ground resolution, for scenes whose scale is wrong or missing.")
RESAMPLING_OPTION = click.option(
    "--resampling", type=click.Choice(RESAMPLINGS), default="auto", show_default=True,
    help="How the scene is read at the model's resolution; auto: average when the scene is finer, bilinear "
         "when it is coarser.")
UNGEO_OPTION = click.option(
    "--allow-ungeoreferenced", is_flag=True, help="Process a scene without CRS in pixel space.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geotrans")
def main() -> None:
    """Turn GeoTIFF satellite and aerial scenes into map-style GeoTIFFs with a pix2pix GAN.

    \b
    Examples:
      geotrans run scene.tif --out map.tif
      geotrans run scene.tif --out map.tif --model mine.safetensors -v
    """


@main.command(cls=GroupedCommand, groups=RUN_OPTION_GROUPS,
              short_help="Translate a scene, or a folder of scenes, into a map GeoTIFF.")
@click.argument("src", type=click.Path(dir_okay=True, path_type=str), required=False)
@click.option("--out", "-o", "dst", required=True, type=click.Path(path_type=str),
              help="Output GeoTIFF, or output folder when SRC is a folder or --list is given.")
@click.option("--pattern", "patterns", multiple=True, metavar="GLOB",
              help="Folder mode: file names to take (repeatable), matched regardless of case. Default: *.tif and "
                   "*.tiff (so .TIF too).")
@click.option("--recursive", is_flag=True, help="Folder mode: walk sub-folders too, keeping relative paths.")
@click.option("--list", "list_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Translate the scenes listed in this file (one path a line) into the --out folder.")
@click.option("--force", is_flag=True, help="Folder mode: redo scenes whose output is complete and current.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:8786",
              help="Spread the folder's scenes, or one scene's strips of rows, over this Dask cluster "
                   "(one worker per GPU).")
@click.option("--cluster", default=None, type=LocalCluster(), metavar="local:N",
              help="Start a local Dask cluster of N workers for the folder's scenes or one scene's strips.")
@click.option("--strip-rows", default=None, type=int, metavar="ROWS",
              help="One scene on a cluster: rows per strip, a multiple of 256 (default: about 4 strips per "
                   "worker, 2048 to 8192 rows).")
@click.option("--log", "log_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write the log to this file (appended to).")
@click.option("--http-timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Network sources (/vsicurl/, URLs): give up on each connection and each request after this "
                   "long (default 15 s to connect, 60 s a request, or GDAL_HTTP_* from the environment). It bounds "
                   "one request, not the whole wait: opening a scene takes several requests and busy answers are "
                   "retried 3 times with back-off, so a silent server is given up on after several times this.")
@MODEL_OPTION
@click.option("--batch-size", default=8, show_default=True, type=int, help="Tiles per batch.")
@OVERLAP_OPTION
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="auto: CUDA when available, otherwise the CPU.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Arithmetic of the generator: auto takes bf16 where it is measured to be as good and faster.")
@click.option("--palette", type=click.Choice(PALETTES), default="auto", show_default=True,
              help="auto: snap pixels close to one of the map style's colours (from the model card) onto it.")
@click.option("--tta", is_flag=True, help="Average each tile over its 8 flips and rotations (8x the work).")
@click.option("--compile", "compile_", is_flag=True,
              help="Run the generator through torch.compile: builds once per process (up to 40 s on a CPU), then "
                   "runs faster (on a CPU, worth it from a few thousand tiles); needs g++ (CPU) or Triton (CUDA).")
@BANDS_OPTION
@click.option("--dropout", is_flag=True, help="Keep the generator's dropout at inference (the paper's noise).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for --dropout; the same seed repeats a run.")
@AOI_OPTION
@click.option("--native-res", is_flag=True,
              help="Keep the model's native ground resolution in the output instead of the scene's grid.")
@GSD_OPTION
@RESAMPLING_OPTION
@UNGEO_OPTION
@click.option("--cog", is_flag=True, help="Write a Cloud Optimized GeoTIFF.")
@click.option("--compress", type=click.Choice(COMPRESSION_NAMES), default="deflate", show_default=True,
              help="The map's compression; jpeg and webp are lossy (the mask stays a mask).")
@click.option("--co", "creation_options", multiple=True, type=CreationOption(),
              help="A GDAL creation option for the map, KEY=VALUE (repeatable), as in rio.")
@click.option("--preview", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write a small PNG: input | output side by side (single scene).")
@click.option("--vectors", type=click.Path(path_type=str), default=None, metavar="FEATURES.gpkg",
              help="Also vectorize the map into this GeoPackage (roads, water, green, buildings; see geotrans "
                   "vectorize); in folder mode a folder, one GeoPackage per map.")
@click.option("--overwrite", is_flag=True,
              help="Replace --out (and --preview, --vectors) if it exists; in folder mode, also replace files in the "
                   "output and --vectors folders that geotrans did not write (without it they are left alone and "
                   "the scene fails).")
@click.option("--yes", "huge", is_flag=True,
              help="Run a plan beyond the size limits (over 1,000,000 windows to run, or a map over 10^10 px), "
                   "which are refused without it.")
@click.option("--progress", "progress_mode", type=click.Choice(("bar", "json")), default="bar", show_default=True,
              help="bar: a progress bar on a terminal; json: one JSON line per update (and per log message) on stderr, "
                   "for programs.")
@VERBOSE_OPTION
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bar.")
@click.pass_context
def run(ctx: click.Context, src: Optional[str], dst: str, patterns: tuple[str, ...], recursive: bool,
        list_file: Optional[str], force: bool, scheduler: Optional[str], cluster: Optional[int],
        strip_rows: Optional[int], log_file: Optional[str], http_timeout: Optional[float], model_path: Optional[str], batch_size: int, overlap: int, device: str,
        precision: str, palette: str, tta: bool, compile_: bool,
        bands: Optional[tuple[int, ...]], dropout: bool, seed: int, aoi: Optional[str], native_res: bool,
        gsd: Optional[float], resampling: str, allow_ungeoreferenced: bool, cog: bool, compress: str,
        creation_options: tuple[tuple[str, str], ...], preview: Optional[str], vectors: Optional[str],
        overwrite: bool, huge: bool, progress_mode: str, verbose: int, quiet: bool) -> None:
    """Translate the scene SRC into a map GeoTIFF at --out on the same grid, or a folder of scenes.

    The output has SRC's CRS, transform and size: it lies exactly over SRC in
    QGIS. The model reads the scene resampled to its own ground resolution
    (from its model card); --native-res keeps that resolution in the output.
    Nodata, alpha and NaN pixels stay transparent. The map is written to a
    temporary file beside --out and renamed when complete, so --out never holds
    a partial map.

    \b
    Examples:
      geotrans run sample_tiles/korea_rgb_jpeg_3857.tif --out korea_map.tif
      geotrans run naip.tif -o map.tif --bands 1,2,3 --aoi field.geojson
      geotrans run scene.tif -o map.tif --cog --compress zstd --preview map.png
      geotrans run scene.tif -o map.tif --model my_region.safetensors
      geotrans run scene.tif -o map.tif --device cpu --precision fp32 -q
      geotrans run scenes/ --out maps/ --recursive    # re-run to resume
      geotrans run --list scenes.txt --out maps/ --cluster local:2

    \b
    Folder mode writes geotrans-summary.json in the output folder and exits
    non-zero when any scene failed. A re-run skips outputs that are complete and
    current (same source, model and parameters); --force redoes them.
    """
    if src is None and list_file is None:
        raise click.UsageError("give a scene or folder SRC, or --list FILE")
    folder_mode = list_file is not None or Path(src).is_dir()
    _refuse_flags(ctx, folder_mode)
    with error_boundary(verbose, "interrupted; nothing was written"):
        _check_run_targets(src, dst, folder_mode, preview, log_file, (aoi, model_path, list_file), overwrite,
                           vectors)
    _setup_logging(verbose, quiet, log_file, json_lines=progress_mode == "json")
    apply_http_settings(http_timeout)
    with error_boundary(verbose, f"interrupted; nothing was written to {dst}"):
        options = RunOptions(batch_size=batch_size, overlap=overlap, device=device, precision=precision,
                             palette=palette, tta=tta, compile=compile_, overwrite=overwrite,
                             dropout_seed=seed if dropout else None, bands=bands, cog=cog, compress=compress,
                             creation_options=tuple(creation_options), native_res=native_res,
                             gsd=gsd, resampling=resampling, allow_ungeoreferenced=allow_ungeoreferenced, aoi=aoi,
                             strip_rows=strip_rows, huge=huge)
        if creation_options:  # refused now, not after the model has loaded (nor ignored with a warning)
            import_pipeline()
            from geotrans.output import Encoding, check_encoding

            check_encoding(Encoding(compress, tuple(creation_options)), cog)
    if vectors:  # the map's classes come from the model's card: a bad table is said before any map is made
        with error_boundary(verbose):
            import_pipeline()
            from geotrans.render import MapStyle
            from geotrans.weights import read_model_info

            card = read_model_info(model_path).card
            if card.get("map_classes") is not None:
                MapStyle.from_card(card)
    if folder_mode:
        summary = _run_folder(src, dst, options, model_path, patterns, recursive, list_file, force, scheduler,
                              cluster, quiet, verbose, progress_mode)
        click.echo(summary.table())
        unvectorized = _vectorize_folder(summary, dst, vectors, force, overwrite, verbose) if vectors else 0
        sys.exit(1 if summary.failed or unvectorized else 0)
    if preview and not Path(preview).resolve().parent.is_dir():
        raise click.ClickException(f"{preview}: its folder does not exist; nothing was run")
    on_cluster = scheduler is not None or cluster is not None
    with error_boundary(verbose, f"interrupted; nothing was written to {dst}"):
        import_pipeline(dask=on_cluster)
        from geotrans.pipeline import translate
        from geotrans.plan import plan_run
        from geotrans.preview import write_preview
        from geotrans.runner import resolved
        from geotrans.split import splits, translate_split
        from geotrans.weights import load_generator, read_model_info

        if strip_rows is not None and not on_cluster:
            raise click.ClickException("--strip-rows applies to a scene split across a cluster "
                                       "(--cluster or --scheduler)")
        if not on_cluster:  # a cluster's workers decide for themselves
            options = resolved(options)
        model_info = read_model_info(model_path)
        plan = interruptible(lambda: plan_run(src, options, model_info))  # a silent server cannot hold Ctrl-C
        plan.check_size()  # before the weights load: a VRT can declare a million pixels a side
        generator = None if on_cluster else load_generator(model_path)[0]
        with _bar("tiles", "tiles", quiet, progress_mode) as bar:
            if on_cluster and splits(plan):  # the workers load the model
                report = translate_split(plan, dst, model_path, scheduler, cluster, progress=_follow(bar))
            else:
                generator = generator or load_generator(model_path)[0]
                report = translate(plan, dst, generator, progress=_follow(bar))
        if preview:
            write_preview(plan, report.dst, preview)
            log.info("wrote preview %s", preview)
        if vectors:
            from geotrans.vectorize import vectorize_map

            vectorize_map(report.dst, vectors, overwrite=overwrite, inputs=(src,))


def _check_run_targets(src: Optional[str], dst: str, folder_mode: bool, preview: Optional[str],
                       log_file: Optional[str], other_inputs: tuple, overwrite: bool,
                       vectors: Optional[str] = None) -> None:
    """Every path the run writes, against its inputs and each other (``geotrans.targets``), before it starts."""
    inputs = [p for p in (None if folder_mode else src, *other_inputs) if p]
    for path in inputs:  # before the model loads: a missing local input is the first thing to say
        check_name(path, "input", InputError)
        if disk_file(path) is not None and not os.path.lexists(disk_file(path)):
            raise InputError(f"{path}: no such file")
    targets = [Target(path, role) for path, role in ((None if folder_mode else dst, "map"),
                                                            (preview, "preview"), (log_file, "log"),
                                                            (None if folder_mode else vectors, "vectors")) if path]
    if folder_mode and vectors and Path(vectors).exists() and not Path(vectors).is_dir():
        raise InputError(f"{vectors}: in folder mode --vectors is a folder (one GeoPackage per map)")
    for folder in (dst, vectors) if folder_mode else ():
        if folder and not Path(folder).is_dir() and not Path(folder).parent.is_dir():  # made, but not a chain
            raise OutputError(f"{Path(folder).parent}: no such folder to make {Path(folder).name} in",
                              hint="create it first, or check the path")
    if folder_mode and Path(dst).is_dir():
        targets.append(Target(Path(dst) / SUMMARY, "summary"))
    check_targets(targets, inputs, overwrite)


def _run_folder(src, dst, options, model_path, patterns, recursive, list_file, force, scheduler, cluster, quiet,
                verbose, progress_mode):
    """The folder's scenes, with a bar of scenes above a bar of tiles; the BatchSummary."""
    with error_boundary(verbose, f"interrupted; nothing was written to {dst}"):
        import_pipeline(dask=scheduler is not None or cluster is not None)
        from geotrans.folder import run_folder
    with error_boundary(verbose, f"interrupted; finished scenes are recorded in {Path(dst) / SUMMARY}"), \
            _bar("scenes", "scenes", quiet, progress_mode) as scenes, \
            _bar("tiles", "tiles", quiet, progress_mode, position=1) as tiles:
        return run_folder(src, dst, options, model_path, patterns, recursive, list_file, force, scheduler,
                          cluster, on_jobs=scenes.reset, on_scene=lambda result: scenes.update(1),
                          tile_progress=_follow(tiles))


def _vectorize_folder(summary, maps_dir: str, vectors_dir: str, force: bool, overwrite: bool, verbose: int) -> int:
    """Features of the folder's finished maps, one GeoPackage each; the number of maps left without."""
    from geotrans.vectorize import vectorize_folder

    maps = [r.dst for r in summary.results if r.status in ("done", "skipped")]
    with error_boundary(verbose, "interrupted; the finished GeoPackages are complete"):
        outcome = vectorize_folder(maps, maps_dir, vectors_dir, force=force, overwrite=overwrite)
    written = sum(v == "written" for v in outcome.values())
    current = sum(v == "current" for v in outcome.values())
    failed = len(outcome) - written - current
    click.echo(f"vectors in {vectors_dir}: {written} written, {current} current, {failed} failed")
    return failed


@main.command(short_help="Turn a map into GIS layers: roads, water, green, buildings.")
@click.argument("map_path", metavar="MAP", type=click.Path(path_type=str))
@click.option("--out", "-o", "dst", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The GeoPackage to write: layers roads, water, green and buildings.")
@click.option("--model", "model_path", type=click.Path(path_type=str), default=None,
              help="The model that made the map, for its class colours when the map does not record them.")
@click.option("--min-area", type=click.FloatRange(min=0), default=None, metavar="M2",
              help="Drop polygons smaller than this many m². Default: 20 m² or 4 pixels, whichever is larger; "
                   "0 keeps every one.")
@click.option("--strip-rows", type=click.IntRange(min=64), default=None, metavar="ROWS",
              help="Rows read at once (default 1024): memory follows the map's width times this, not its height.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@VERBOSE_OPTION
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
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
    _setup_logging(verbose, quiet)
    with error_boundary(verbose, f"interrupted; nothing was written to {dst}"):
        import_pipeline()
        from geotrans.render import MapStyle
        from geotrans.vectorize import VectorOptions, vectorize_map
        from geotrans.weights import read_model_info

        if not os.path.lexists(map_path):
            raise InputError(f"{map_path}: no such file")
        style = MapStyle.from_card(read_model_info(model_path).card) if model_path else None
        options = VectorOptions(min_area_m2=min_area, **({"strip_rows": strip_rows} if strip_rows else {}))
        vectorize_map(map_path, dst, style, options, overwrite)  # says what it wrote, once, in the log


@main.command(short_help="Say what `geotrans run` would do with a scene, without running.")
@click.argument("src", type=click.Path(path_type=str))
@MODEL_OPTION
@BANDS_OPTION
@OVERLAP_OPTION
@GSD_OPTION
@RESAMPLING_OPTION
@AOI_OPTION
@UNGEO_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the facts as one JSON object, for scripts.")
@click.option("-v", "--verbose", count=True, help="Log what is done on the way (and tracebacks of internal errors).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr, no warnings.")
def info(src: str, model_path: Optional[str], bands: Optional[tuple[int, ...]], overlap: int, gsd: Optional[float],
         resampling: str, aoi: Optional[str], allow_ungeoreferenced: bool, as_json: bool, verbose: int, quiet: bool) -> None:
    """Say what `geotrans run` would do with SRC, without running the model.

    \b
    Size, CRS and ground resolution against the model's; the bands and their
    scaling; the valid fraction; the windows to run and to skip; a time estimate.

    \b
    Examples:
      geotrans info sample_tiles/landsat_rgb_nodata_utm.tif
      geotrans info scene.tif --json | jq .windows.to_run
    """
    _setup_logging(verbose, not verbose)
    apply_http_settings()
    if quiet:
        log.setLevel(logging.ERROR)
    with error_boundary(verbose):
        import_pipeline()
        from geotrans.info import describe, facts, measure_rates
        from geotrans.plan import plan_run

        model_info = _model_info_or_none(model_path)
        options = RunOptions(overlap=overlap, bands=bands, gsd=gsd, resampling=resampling, aoi=aoi,
                             allow_ungeoreferenced=allow_ungeoreferenced)
        started = time.perf_counter()
        plan = interruptible(lambda: plan_run(src, options, model_info))
        planning = time.perf_counter() - started
        rates = None if model_info is None else measure_rates(plan, model_info.ngf, planning_seconds=planning)
        if as_json:
            click.echo(json.dumps(facts(plan, rates)))
        else:
            for line in describe(plan, rates):
                click.echo(line)


@main.command(short_help="Fine-tune the model on your scenes and labels.")
@click.argument("scenes", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--labels", "labels", multiple=True, required=True, type=click.Path(path_type=str),
              help="Labels (repeatable): a vector file (GeoPackage, Shapefile, GeoJSON; features with a 'class' "
                   "attribute or OSM tags), a single-band class raster with --class-table, or a folder of such "
                   "files. Each is used where it overlaps a scene.")
@click.option("--out", "-o", "dst", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The tuned model (.safetensors), with its card inside.")
@click.option("--model", "model_path", type=click.Path(path_type=str), default=None,
              help="The model to start from. Default: the model shipped with geotrans.")
@click.option("--minutes", default=60.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="How long to train (the scoring before and after comes on top).")
@click.option("--holdout", default=0.2, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Share of the labelled area kept out of training to score on: the east block of each scene.")
@click.option("--class-table", type=click.Path(dir_okay=False, path_type=str), default=None,
              help='JSON from a class raster\'s codes to classes, e.g. {"1": "street", "2": "water", '
                   '"255": "ignore"}; classes: background, street, major_road, highway, water, green, building.')
@click.option("--label-class", type=click.Choice(("background", "street", "major_road", "highway", "water", "green",
                                                  "building")), default=None,
              help="The class of vector features that carry neither a 'class' attribute nor OSM tags "
                   "(say, street for a road centre-line layer).")
@click.option("--resume", is_flag=True, help="Continue a tune that was interrupted (Ctrl-C checkpoints it).")
@click.option("--keep-worse", is_flag=True, help="Write the tuned model even if it scores worse than its base.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--max-steps", type=int, default=None, hidden=True, help="Stop after this many steps (for tests).")
@click.option("--progress", "progress_mode", type=click.Choice(("bar", "json")), default="bar", show_default=True,
              help="bar: a progress bar of the training minutes; json: JSON lines on stderr, for programs.")
@VERBOSE_OPTION
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bar.")
def tune(scenes: tuple[str, ...], labels: tuple[str, ...], dst: str, model_path: Optional[str], minutes: float,
         holdout: float, class_table: Optional[str], label_class: Optional[str], resume: bool, keep_worse: bool,
         overwrite: bool, max_steps: Optional[int], progress_mode: str, verbose: int, quiet: bool) -> None:
    """Fine-tune the model on SCENES with your labels, and score it before and after on a hold-out.

    \b
    Examples:
      geotrans tune sample_tiles/vegas_rgba_4326.tif --labels roads.geojson \\
          --label-class street --out vegas.safetensors --minutes 10
      geotrans tune a.tif b.tif --labels osm.gpkg --labels landcover.tif \\
          --class-table table.json -o mine.safetensors
      geotrans run scene.tif --out map.tif --model mine.safetensors

    \b
    Labels are drawn in the map style on each scene at the model's resolution. The
    east block of each scene (--holdout of its labelled area) never trains; the
    base and the tuned model are scored there (street F1, water, green and
    building IoU) and the table is printed. A tuned model worse than its base is
    not written unless --keep-worse. Needs the training extras
    (pip install 'geotrans[train]').
    """
    _setup_logging(verbose, quiet, json_lines=progress_mode == "json")
    with error_boundary(verbose, "interrupted; the tune is checkpointed: the same command with --resume continues"):
        import_pipeline()
        try:
            from training.train import StopRequest, stop_on_signals
            from training.tune import tune as fine_tune
        except ImportError as err:
            raise GeotransError(f"geotrans tune needs the training code and extras ({err})",
                                hint="pip install 'geotrans[train]'") from None
        stop = StopRequest()
        with _bar("seconds", "tuning", quiet, progress_mode) as bar, stop_on_signals(stop):
            bar.reset(total=round(minutes * 60))

            def on_step(progress: dict) -> None:
                done = min(bar.total, int(progress["seconds"]))
                if done > bar.n:
                    bar.update(done - bar.n)

            report = fine_tune(list(scenes), list(labels), dst, model_path, minutes, holdout, class_table,
                               label_class, resume, keep_worse, overwrite, max_steps, stop=stop, on_step=on_step)
    click.echo(report.table())
    if not report.written:
        raise click.ClickException(f"the tuned model scores worse than its base on the hold-out; {dst} was not "
                                   "written (--keep-worse writes it anyway)")
    click.echo(f"wrote {dst} ({report.summary()})")


@main.group(short_help="Install or remove the QGIS Processing provider.")
def qgis() -> None:
    """The QGIS plugin: a Processing provider that runs this environment's geotrans.

    \b
    Examples:
      geotrans qgis install                      # into QGIS's default profile
      geotrans qgis install --profile work
      geotrans qgis uninstall
    """


QUIET_OPTION = click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
PROFILE_OPTION = click.option("--profile", default="default", show_default=True, help="The QGIS profile.")
PROFILES_PATH_OPTION = click.option(
    "--profiles-path", type=click.Path(file_okay=False, path_type=str), default=None,
    help="QGIS's profiles folder (as QGIS's own --profiles-path). Default: this platform's.")


@qgis.command("install", short_help="Copy the plugin into a QGIS profile.")
@PROFILE_OPTION
@PROFILES_PATH_OPTION
@VERBOSE_OPTION
@QUIET_OPTION
def qgis_install(profile: str, profiles_path: Optional[str], verbose: int, quiet: bool) -> None:
    """Copy the plugin into a QGIS profile (again: replace it) and record this geotrans to run."""
    _setup_logging(verbose, quiet)
    with error_boundary(verbose):
        import_pipeline()
        from geotrans.qgis_install import PLUGIN_NAME, geotrans_command, install_plugin

        target = install_plugin(profile, profiles_path)
    if not quiet:
        click.echo(f"installed the geotrans plugin in {target}")
        click.echo(f"it runs {' '.join(geotrans_command())}")
        click.echo("enable it: QGIS > Plugins > Manage and Install Plugins > Installed > tick 'geotrans' "
                   "(restart QGIS if it was open); the algorithms are in the Processing Toolbox under 'geotrans'")
        click.echo(f"headless: qgis_process plugins enable {PLUGIN_NAME}")


@qgis.command("uninstall", short_help="Remove the plugin from a QGIS profile.")
@PROFILE_OPTION
@PROFILES_PATH_OPTION
@VERBOSE_OPTION
@QUIET_OPTION
def qgis_uninstall(profile: str, profiles_path: Optional[str], verbose: int, quiet: bool) -> None:
    """Remove the plugin from a QGIS profile (nothing to do when it is not there)."""
    _setup_logging(verbose, quiet)
    with error_boundary(verbose):
        import_pipeline()
        from geotrans.qgis_install import uninstall_plugin

        removed = uninstall_plugin(profile, profiles_path)
    if not quiet:
        click.echo(f"removed {removed}" if removed else f"the geotrans plugin is not installed in profile {profile!r}")


def _model_info_or_none(model_path: Optional[str]):
    """The model's header (no generator is built); None when no model is installed and none was named."""
    from geotrans.errors import NoModelError
    from geotrans.weights import read_model_info

    try:
        return read_model_info(model_path)
    except NoModelError:
        if model_path is not None:
            raise
        return None
