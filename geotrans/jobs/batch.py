"""Folders of scenes: resumable, fault-isolated batch runs (here; :mod:`geotrans.jobs.distributed` runs them on Dask).

Each output is written atomically by :func:`translate` and carries a job tag: the
source's path, size and mtime, the model's hash and the run's parameters. A re-run
skips an output whose tag matches (complete and current) and redoes the rest. A
scene that fails is recorded with its one-line error and the others go on.
"""
from __future__ import annotations

import fnmatch
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Optional

import rasterio
import torch
from rasterio.errors import RasterioError
from torch import nn

from geotrans.errors import DiskFullError, GeotransError, InputError, OutputBusyError, OutputError, one_line
from geotrans.interrupts import interruptible
from geotrans.io.files import atomic_path, output_lock
from geotrans.io.sink import verify_readable
from geotrans.io.targets import SUMMARY, disk_file, written_by_geotrans
from geotrans.model.weights import ModelInfo
from geotrans.run.options import RunOptions
from geotrans.run.pipeline import translate
from geotrans.run.plan import plan_run
from geotrans.run.runner import resolved

log = logging.getLogger(__name__)

JOB_TAG = "GEOTRANS_JOB"
DEFAULT_PATTERNS = ("*.tif", "*.tiff")


@dataclass(frozen=True)
class SceneJob:
    """One scene of a batch: its source and the output path it gets."""

    src: str
    dst: str


STATUSES = ("done", "current", "busy", "failed")
OLD_STATUSES = {"skipped": "current"}  # summaries of geotrans 0.1.0 called a current output "skipped"


@dataclass
class SceneResult:
    src: str
    dst: str
    status: str  # "done", "current" (already complete and current), "busy" (another run has it) or "failed"
    error: str = ""
    tiles_run: int = 0
    tiles_skipped: int = 0
    seconds: float = 0.0
    megapixels_per_second: float = 0.0


@dataclass
class BatchSummary:
    results: list[SceneResult] = field(default_factory=list)
    interrupted: bool = False
    model: dict = field(default_factory=dict)  # the model's name, hash and licence (ModelInfo.record)

    @property
    def failed(self) -> list[SceneResult]:
        return [r for r in self.results if r.status == "failed"]

    def totals(self) -> dict:
        counts = {s: sum(r.status == s for r in self.results) for s in STATUSES}
        return {"scenes": len(self.results), **counts,
                "tiles_run": sum(r.tiles_run for r in self.results),
                "tiles_skipped": sum(r.tiles_skipped for r in self.results),
                "seconds": round(sum(r.seconds for r in self.results), 2), "interrupted": self.interrupted}

    def write(self, out_dir: Path) -> Path:
        """Write ``geotrans-summary.json`` atomically in ``out_dir``, merged with what other runs into the
        same folder wrote there: this run's results replace theirs (see ``keeps``)."""
        path = out_dir / SUMMARY
        with output_lock(path, clean=False, wait_s=10):
            merged = {r.src: r for r in _read_summary(path)}
            merged.update({r.src: r for r in self.results if keeps(r, merged.get(r.src))})
            combined = BatchSummary(sorted(merged.values(), key=lambda r: r.src), self.interrupted)
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps({"model": self.model, "totals": combined.totals(),
                                           "scenes": [asdict(r) for r in combined.results]}, indent=2))
        return path

    def write_if_possible(self, out_dir: Path) -> None:
        """Write the summary unless the disk refuses it too (the caller is already failing for that)."""
        try:
            self.write(out_dir)
        except OutputError as err:
            log.warning("%s", err)

    def table(self) -> str:
        rows = [f"{'status':8} {'tiles':>7} {'no data':>7} {'seconds':>8} {'Mpx/s':>7}  scene"]
        for r in self.results:
            rows.append(f"{r.status:8} {r.tiles_run:7d} {r.tiles_skipped:7d} {r.seconds:8.1f} "
                        f"{r.megapixels_per_second:7.2f}  {r.src}" + (f"  ({r.error})" if r.error else ""))
        t = self.totals()
        rows.append(f"{t['scenes']} scenes: {t['done']} done, {t['current']} already current, {t['busy']} left to "
                    f"another run, {t['failed']} failed"
                    + (" (interrupted)" if self.interrupted else ""))
        return "\n".join(rows)


def scene_line(result: SceneResult, seconds: float) -> str:
    """A scene's outcome in one line, as a folder run logs it."""
    if result.status == "done":
        return (f"done in {seconds:.1f} s ({result.tiles_run} tiles, {result.megapixels_per_second:.2f} Mpx/s) "
                f"-> {result.dst}")
    if result.status == "current":
        return f"already current in {result.dst}"
    return f"{result.status} ({result.error})" if result.error else result.status


def keeps(new: SceneResult, earlier: Optional[SceneResult]) -> bool:
    """Whether this run's record of a scene replaces the summary's: always, except when it only left the scene
    to another run (busy). Scenes this run did not take keep their earlier records."""
    return earlier is None or new.status != "busy"


def _read_summary(path: Path) -> list[SceneResult]:
    try:
        return [SceneResult(**{**scene, "status": OLD_STATUSES.get(scene["status"], scene["status"])})
                for scene in json.loads(path.read_text())["scenes"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


LIST_MAX_BYTES = 64 << 20  # a list of a million scenes is under this; a larger file is not a list


def plan_jobs(src: Optional[str | os.PathLike], out_dir: str | os.PathLike, patterns: Iterable[str] = (),
              recursive: bool = False, list_file: Optional[str | os.PathLike] = None) -> list[SceneJob]:
    """Scenes of a folder (same relative paths under ``out_dir``) or of a list file (one path a line)."""
    out_dir = Path(out_dir)
    patterns = tuple(patterns) or DEFAULT_PATTERNS
    if list_file is not None:
        try:
            if os.path.getsize(list_file) > LIST_MAX_BYTES:
                raise InputError(f"{list_file}: over {LIST_MAX_BYTES >> 20} MiB is not a list of scenes")
            lines = [line.strip() for line in Path(list_file).read_text(encoding="utf-8").splitlines()]
        except OSError as err:
            raise InputError(f"{list_file}: cannot read the scene list ({err.strerror})") from None
        except UnicodeDecodeError:
            raise InputError(f"{list_file}: not a text list of scenes (one path a line, UTF-8)") from None
        sources = [line for line in lines if line and not line.startswith("#")]  # as written: URLs keep their //
        names = [scene_name(s) for s in sources]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise InputError(f"{list_file}: two scenes are named {duplicate}; their outputs would collide")
        return [SceneJob(s, os.fspath(out_dir / name)) for s, name in zip(sources, names)]
    root = Path(src)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    walk = list(root.rglob("*") if recursive else root.glob("*"))
    named = [p for p in walk if any(fnmatch.fnmatch(p.name.lower(), pat.lower()) for pat in patterns)]
    dangling = [p for p in named if p.is_symlink() and not p.exists()]
    if dangling:
        log.warning("%s: left out %d link(s) to nothing: %s", root, len(dangling),
                    ", ".join(p.name for p in dangling[:5]) + (" ..." if len(dangling) > 5 else ""))
    sources = sorted(p for p in named if p.is_file())
    if out_dir.resolve() == root.resolve():
        raise InputError(f"{out_dir}: is the input folder; the maps need a folder of their own",
                         hint="give another --out")
    if root.resolve() in out_dir.resolve().parents:  # the maps' folder lies in the input tree
        inside = [s for s in sources if out_dir.resolve() in s.resolve().parents]
        yours = [s for s in inside if not written_by_geotrans(s)]
        if yours:  # neither a scene to leave out silently nor a map to replace
            raise InputError(f"{yours[0]}: is a scene of yours inside the output folder {out_dir}, which lies in "
                             f"the input folder {root}; it would be neither translated nor kept",
                             hint="give an --out outside the input folder")
        sources = [s for s in sources if s not in inside]
    return [SceneJob(os.fspath(s), os.fspath(out_dir / s.relative_to(root))) for s in sources]


def scene_name(source: str) -> str:
    """The file name of a scene path, URL or GDAL path (``/vsicurl/https://host/a/b.tif`` -> ``b.tif``)."""
    return source.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or source


def job_fingerprint(job: SceneJob, options: RunOptions, model_info: Optional[ModelInfo]) -> str:
    """What makes an output current: its source file as it is now, the model, and the parameters."""
    local = disk_file(job.src)  # a network source has no size or time to compare: its path is its identity
    source = {"source": job.src} if local is None else {
        "source": job.src if job.src.startswith("/vsi") else os.path.abspath(job.src),
        "size": os.stat(local).st_size, "mtime_ns": os.stat(local).st_mtime_ns}
    return json.dumps({**source, "model": model_info.sha256 if model_info else None, "params": options.identity()},
                      sort_keys=True)


def is_current(job: SceneJob, fingerprint: str) -> bool:
    """The output exists, was made by this job, and still reads to its last block (a file that does not,
    say truncated since, is redone, with a warning)."""
    if not os.path.exists(job.dst):
        return False
    try:
        with rasterio.open(job.dst) as ds:
            if ds.tags().get(JOB_TAG) != fingerprint:
                return False
        verify_readable(Path(job.dst), Path(job.dst))
    except (OutputError, RasterioError) as err:
        log.warning("%s: is damaged (%s); translating it again", job.dst, one_line(err))
        return False
    return True


def written_outputs(out_dir: str | os.PathLike) -> frozenset[str]:
    """The outputs the folder's summary records geotrans as having written (done or skipped)."""
    return frozenset(r.dst for r in _read_summary(Path(out_dir) / SUMMARY) if r.status in ("done", "current"))


def process_scene(job: SceneJob, generator: nn.Module, model_info: Optional[ModelInfo], options: RunOptions,
                  force: bool = False, progress: Optional[Callable[[int, int], None]] = None,
                  written: frozenset[str] = frozenset()) -> SceneResult:
    """Run one scene of a batch; never raises for a bad scene, only for an interrupt.

    An existing output that geotrans did not write (no geotrans tags, not in ``written``, the summary's
    record) is left alone and the scene fails, unless ``options.overwrite``."""
    try:
        fingerprint = job_fingerprint(job, options, model_info)
    except OSError as err:
        return SceneResult(job.src, job.dst, "failed", f"{job.src}: {err.strerror}")
    Path(job.dst).parent.mkdir(parents=True, exist_ok=True)
    try:
        with output_lock(job.dst):  # also clears what a killed run left for this output
            current = not force and is_current(job, fingerprint)
    except OutputBusyError as err:
        return SceneResult(job.src, job.dst, "busy", one_line(err))
    if current:
        return SceneResult(job.src, job.dst, "current")
    if os.path.lexists(job.dst) and not options.overwrite and job.dst not in written \
            and not written_by_geotrans(Path(job.dst)):
        return SceneResult(job.src, job.dst, "failed", f"{job.dst}: exists and is not a map geotrans wrote; "
                           "left as it is (--overwrite replaces it)")
    try:
        plan = interruptible(lambda: plan_run(job.src, replace(options, overwrite=True), model_info))
        report = _translate_with_oom_retry(plan, job, generator, progress, {JOB_TAG: fingerprint})
    except MemoryError:
        return SceneResult(job.src, job.dst, "failed", "out of memory")
    except DiskFullError:
        raise  # every following scene would fail too: the run stops
    except OutputBusyError as err:  # another run took it since we looked
        return SceneResult(job.src, job.dst, "busy", one_line(err))
    except (GeotransError, RasterioError, OSError) as err:  # the scene's fault or the disk's; bugs propagate
        if _interrupted(err):  # Ctrl-C/SIGTERM that a library call wrapped into its own error
            raise KeyboardInterrupt from err
        return SceneResult(job.src, job.dst, "failed", one_line(err))
    return SceneResult(job.src, job.dst, "done", "", report.tiles_run, report.tiles_skipped,
                       round(report.seconds, 2), round(report.megapixels_per_second, 3))


def _translate_with_oom_retry(plan, job: SceneJob, generator: nn.Module, progress, tags: dict):
    """translate, retrying at half the batch size after a CUDA out-of-memory error, down to 1."""
    while True:
        try:
            return translate(plan, job.dst, generator, progress, extra_tags=tags)
        except torch.cuda.OutOfMemoryError:
            batch_size = plan.options.batch_size
            if batch_size == 1:
                raise GeotransError("GPU out of memory even at batch size 1") from None
            log.warning("%s: GPU out of memory; retrying with batch size %d", job.src, batch_size // 2)
            torch.cuda.empty_cache()
            plan = replace(plan, options=replace(plan.options, batch_size=batch_size // 2))


def _interrupted(err: BaseException) -> bool:
    while err is not None:
        if isinstance(err, KeyboardInterrupt):
            return True
        err = err.__cause__ or err.__context__
    return False


def run_batch(jobs: list[SceneJob], generator: nn.Module, model_info: Optional[ModelInfo], options: RunOptions,
              out_dir: str | os.PathLike, force: bool = False,
              on_scene: Optional[Callable[[SceneResult], None]] = None,
              tile_progress: Optional[Callable[[int, int], None]] = None) -> BatchSummary:
    """Process ``jobs`` one after another; the summary is rewritten after every scene."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    options = resolved(options)  # device and precision decided (and logged) once
    summary = BatchSummary(model=model_info.record() if model_info is not None else {})
    written = written_outputs(out_dir)
    try:
        for job in jobs:
            started = time.perf_counter()
            try:
                result = process_scene(job, generator, model_info, options, force, tile_progress, written)
            except DiskFullError as err:
                summary.results.append(SceneResult(job.src, job.dst, "failed", one_line(err)))
                summary.write_if_possible(out_dir)
                raise
            log.log(logging.WARNING if result.status == "failed" else logging.INFO, "%s: %s", job.src,
                    scene_line(result, time.perf_counter() - started))
            summary.results.append(result)
            summary.write(out_dir)
            if on_scene:
                on_scene(result)
    except KeyboardInterrupt:
        summary.interrupted = True
        summary.write_if_possible(out_dir)
        raise
    return summary
