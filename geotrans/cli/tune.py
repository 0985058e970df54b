"""``geotrans tune``: fine-tune the model on a user's scenes and labels (``geotrans.training.tune``).
"""
from __future__ import annotations

from typing import Optional

import click

from geotrans.cli.console import error_boundary, import_pipeline, progress_bar, setup_logging
from geotrans.cli.options import QUIET_OPTION, VERBOSE_OPTION, Number
from geotrans.errors import GeotransError


@click.command(short_help="Fine-tune the model on your scenes and labels.")
@click.argument("scenes", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--labels", "labels", multiple=True, required=True, type=click.Path(path_type=str),
              help="Labels (repeatable): a vector file (GeoPackage, Shapefile, GeoJSON; features with a 'class' "
                   "attribute or OSM tags), a single-band class raster with --class-table, or a folder of such "
                   "files. Each is used where it overlaps a scene.")
@click.option("--out", "-o", "dst", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The tuned model (.safetensors), with its card inside.")
@click.option("--model", "model_path", type=click.Path(path_type=str), default=None,
              help="The model to start from. Default: the model shipped with geotrans.")
@click.option("--minutes", default=60.0, show_default=True, type=Number(min=0, min_open=True),
              help="How long to train (the scoring before and after comes on top).")
@click.option("--holdout", default=0.2, show_default=True, type=Number(0, 1, min_open=True, max_open=True),
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
@QUIET_OPTION
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
    (pip install '.[train]' in the clone).
    """
    setup_logging(verbose, quiet, json_lines=progress_mode == "json")
    with error_boundary(verbose, "interrupted; the tune is checkpointed: the same command with --resume continues"):
        import_pipeline()
        try:
            from geotrans.training.checkpoints import StopRequest, stop_on_signals
            from geotrans.training.report import check_extras

            check_extras()
            from geotrans.training.tune import TuneJob
            from geotrans.training.tune import tune as fine_tune
        except ImportError as err:
            raise GeotransError(f"geotrans tune needs the training code and extras ({err})",
                                hint="pip install '.[train]' in the clone") from None
        stop = StopRequest()
        with progress_bar("seconds", "tuning", quiet, progress_mode) as bar, stop_on_signals(stop):
            bar.reset(total=round(minutes * 60))

            def on_step(progress: dict) -> None:
                done = min(bar.total, int(progress["seconds"]))
                if done > bar.n:
                    bar.update(done - bar.n)

            job = TuneJob(scenes, labels, dst, base=model_path, minutes=minutes, holdout=holdout,
                          class_table=class_table, label_class=label_class, resume=resume, keep_worse=keep_worse,
                          overwrite=overwrite, max_steps=max_steps)
            report = fine_tune(job, stop=stop, on_step=on_step)
    click.echo(report.table())
    if not report.written:
        raise click.ClickException(f"the tuned model scores worse than its base on the hold-out; {dst} was not "
                                   "written (--keep-worse writes it anyway)")
    click.echo(f"wrote {dst} ({report.summary()})")
