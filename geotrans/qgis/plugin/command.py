"""How the QGIS plugin runs geotrans: each algorithm's command line, and one run with its progress.

Standard library only: this file runs inside QGIS's Python, which has neither torch nor
rasterio. The plugin runs the ``geotrans`` executable that ``geotrans qgis install``
recorded, as a child process with that environment's own Python and GDAL.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

INSTALL_RECORD = "geotrans.json"  # written beside this file by `geotrans qgis install`

# Variables QGIS sets for its own Python, GDAL and PROJ. The child gets the values it had when
# `geotrans qgis install` ran in its environment (or none), never QGIS's: another Python's home
# stops a virtual environment's interpreter, another GDAL's data breaks its PROJ.
ISOLATED = ("PYTHONHOME", "PYTHONPATH", "GDAL_DATA", "GDAL_DRIVER_PATH", "PROJ_LIB", "PROJ_DATA")

# The choices of `geotrans run` (tests check they agree with the package's).
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
COMPRESSIONS = ("deflate", "zstd", "lzw", "jpeg", "webp")
DEFAULT_OVERLAP = 64
DEFAULT_BATCH_SIZE = 8
MAP_CLASSES = ("street", "major_road", "highway", "water", "green", "building", "background")  # geotrans.model.style
SUMMARY = "geotrans-summary.json"  # what a folder run writes in its output folder

TERMINATE_GRACE_S = 30.0  # after a cancel, how long geotrans may take to remove its temporary files


class RunError(Exception):
    """geotrans could not be run, or it failed: a one-line message."""


@dataclass(frozen=True)
class Install:
    """What `geotrans qgis install` recorded: the command that runs geotrans and its environment."""

    command: tuple[str, ...]
    environment: Mapping[str, str] = field(default_factory=dict)
    version: str = ""

    @classmethod
    def read(cls, folder: str | os.PathLike) -> "Install":
        path = Path(folder) / INSTALL_RECORD
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            install = cls(tuple(record["command"]), dict(record.get("environment", {})), record.get("version", ""))
        except (OSError, ValueError, KeyError, TypeError):
            raise RunError(f"{path} is missing or unreadable: run `geotrans qgis install` in the environment "
                           "that has geotrans") from None
        if not install.command or not Path(install.command[0]).is_file():
            raise RunError(f"the geotrans executable {install.command[0] if install.command else '?'} is gone: "
                           "run `geotrans qgis install` again in the environment that has geotrans")
        return install

    def child_environment(self, current: Mapping[str, str]) -> dict[str, str]:
        """``current`` without QGIS's interpreter and data paths, with the recorded ones."""
        env = {k: v for k, v in current.items() if k not in ISOLATED}
        env.update({k: v for k, v in self.environment.items() if k in ISOLATED})
        env["PYTHONUNBUFFERED"] = "1"
        return env


def _run_options(model: Optional[str], bands: Sequence[int], overlap: int, aoi: Optional[str]) -> list[str]:
    args = []
    if model:
        args += ["--model", model]
    if bands:
        args += ["--bands", ",".join(str(b) for b in bands)]
    if overlap != DEFAULT_OVERLAP:
        args += ["--overlap", str(overlap)]
    if aoi:
        args += ["--aoi", aoi]
    return args


def _engine_options(batch_size: int, device: str, precision: str, cog: bool, compress: str,
                    compile: bool) -> list[str]:
    args = ["--batch-size", str(batch_size), "--device", device, "--precision", precision, "--compress", compress]
    return args + (["--cog"] if cog else []) + (["--compile"] if compile else [])


def scene_arguments(src: str, dst: str, *, model: Optional[str] = None, bands: Sequence[int] = (),
                    aoi: Optional[str] = None, overlap: int = DEFAULT_OVERLAP, batch_size: int = DEFAULT_BATCH_SIZE,
                    device: str = "auto", precision: str = "auto", cog: bool = False,
                    compress: str = "deflate", compile: bool = False, vectors: Optional[str] = None) -> list[str]:
    """`geotrans run SRC --out DST ...` (and ``--vectors``): QGIS has already asked before replacing DST."""
    return (["run", src, "--out", dst, "--overwrite", "--progress", "json"] + _run_options(model, bands, overlap, aoi)
            + _engine_options(batch_size, device, precision, cog, compress, compile)
            + (["--vectors", vectors] if vectors else []))


VECTOR_LAYERS = ("roads", "water", "green", "buildings")  # the layers of `geotrans vectorize`'s GeoPackage


def vectorize_arguments(map_path: str, dst: str, *, min_area: Optional[float] = None) -> list[str]:
    """`geotrans vectorize MAP --out GPKG`: QGIS has already asked before replacing GPKG."""
    args = ["vectorize", map_path, "--out", dst, "--overwrite"]
    return args + (["--min-area", f"{min_area:g}"] if min_area is not None else [])


def folder_arguments(src: str, dst: str, *, patterns: Sequence[str] = (), recursive: bool = False,
                     force: bool = False, model: Optional[str] = None, overlap: int = DEFAULT_OVERLAP,
                     batch_size: int = DEFAULT_BATCH_SIZE, device: str = "auto", precision: str = "auto",
                     cog: bool = False, compress: str = "deflate", compile: bool = False) -> list[str]:
    """`geotrans run FOLDER --out FOLDER ...`, resumable as on the command line."""
    args = ["run", src, "--out", dst, "--progress", "json"]
    for pattern in patterns:
        args += ["--pattern", pattern]
    args += (["--recursive"] if recursive else []) + (["--force"] if force else [])
    return (args + _run_options(model, (), overlap, None)
            + _engine_options(batch_size, device, precision, cog, compress, compile))


def plan_arguments(src: str, *, model: Optional[str] = None, bands: Sequence[int] = (),
                   aoi: Optional[str] = None, overlap: int = DEFAULT_OVERLAP) -> list[str]:
    """`geotrans info SRC ...`: what a run would do, without running the model."""
    return ["info", src] + _run_options(model, bands, overlap, aoi)


def tune_arguments(scenes: Sequence[str], labels: Sequence[str], dst: str, *, model: Optional[str] = None,
                   minutes: float = 60.0, holdout: float = 0.2, label_class: Optional[str] = None,
                   keep_worse: bool = False) -> list[str]:
    """`geotrans tune SCENE ... --labels L ... --out MODEL`: QGIS has already asked before replacing MODEL."""
    args = ["tune", *scenes]
    for path in labels:
        args += ["--labels", path]
    args += ["--out", dst, "--overwrite", "--progress", "json", "--minutes", f"{minutes:g}", "--holdout",
             f"{holdout:g}"]
    if label_class:
        args += ["--label-class", label_class]
    if model:
        args += ["--model", model]
    if keep_worse:
        args.append("--keep-worse")
    return args


def split_patterns(text: str) -> list[str]:
    """``"*.tif; *.jp2"`` or ``"*.tif *.jp2"`` -> the globs."""
    return [p for p in text.replace(";", " ").replace(",", " ").split() if p]


class Progress:
    """Turns geotrans's ``--progress json`` lines into a percentage, across scenes in folder mode."""

    def __init__(self) -> None:
        self.scenes = (0, 0)
        self.tiles = (0, 0)

    def update(self, record: Mapping) -> Optional[float]:
        """The new percentage after one progress record, or None when it says nothing new."""
        done, total = int(record.get("done", 0)), int(record.get("total", 0))
        if record.get("progress") == "scenes":
            self.scenes, self.tiles = (done, total), (0, 0)
        elif record.get("progress") == "tiles":
            self.tiles = (done, total)
        elif record.get("progress") == "seconds":  # a tune: its training minutes
            return 100.0 * min(1.0, done / total) if total else None
        else:
            return None
        tile_part = self.tiles[0] / self.tiles[1] if self.tiles[1] else 0.0
        if self.scenes[1]:
            return 100.0 * min(1.0, (self.scenes[0] + tile_part) / self.scenes[1])
        return 100.0 * tile_part


class Feedback:
    """What a run reports to; the QGIS algorithm adapts QgsProcessingFeedback to it."""

    def is_cancelled(self) -> bool:
        return False

    def progress(self, percent: float) -> None:
        pass

    def info(self, line: str) -> None:
        pass

    def warning(self, line: str) -> None:
        self.info(line)


@dataclass
class Outcome:
    """How a geotrans run ended."""

    returncode: int
    cancelled: bool
    error: str = ""  # geotrans's one-line message when it failed
    stdout: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.cancelled


def run(install: Install, arguments: Sequence[str], feedback: Feedback,
        environ: Optional[Mapping[str, str]] = None, poll_s: float = 0.1) -> Outcome:
    """Run geotrans with ``arguments``; report its log and progress to ``feedback``; stop it on cancel.

    A cancel sends geotrans the signal it treats as Ctrl-C (SIGTERM; CTRL_BREAK on Windows), so it
    removes its temporary files and writes nothing; it is killed only if it has not stopped after
    ``TERMINATE_GRACE_S``.
    """
    windows = sys.platform == "win32"
    try:
        process = subprocess.Popen(
            [*install.command, *arguments], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=install.child_environment(os.environ if environ is None else environ),
            creationflags=subprocess.CREATE_NEW_PROCESS_GROUP if windows else 0)
    except OSError as err:
        raise RunError(f"cannot start geotrans ({install.command[0]}): {err.strerror or err}") from None
    lines: queue.Queue = queue.Queue()
    readers = [threading.Thread(target=_read_lines, args=(stream, name, lines), daemon=True)
               for stream, name in ((process.stdout, "out"), (process.stderr, "err"))]
    for reader in readers:
        reader.start()
    tracker, outcome, stopped_at = Progress(), Outcome(returncode=0, cancelled=False), None
    open_streams = len(readers)
    while open_streams:
        if stopped_at is None and feedback.is_cancelled():
            outcome.cancelled, stopped_at = True, time.monotonic()
            process.send_signal(signal.CTRL_BREAK_EVENT if windows else signal.SIGTERM)
        elif stopped_at is not None and time.monotonic() - stopped_at > TERMINATE_GRACE_S:
            process.kill()
        try:
            name, line = lines.get(timeout=poll_s)
        except queue.Empty:
            continue
        if line is None:
            open_streams -= 1
        elif name == "out":
            outcome.stdout.append(line)
            feedback.info(line)
        else:
            _stderr_line(line, tracker, outcome, feedback)
    outcome.returncode = process.wait()
    outcome.cancelled = outcome.cancelled or outcome.returncode in (130, -signal.SIGTERM, -signal.SIGINT)
    if outcome.returncode != 0 and not outcome.error:
        outcome.error = f"geotrans stopped with exit code {outcome.returncode}"
    return outcome


def _read_lines(stream, name: str, lines: queue.Queue) -> None:
    for raw in iter(stream.readline, b""):
        lines.put((name, raw.decode("utf-8", errors="replace").rstrip("\r\n")))
    stream.close()
    lines.put((name, None))


def _stderr_line(line: str, tracker: Progress, outcome: Outcome, feedback: Feedback) -> None:
    """One line of geotrans's stderr: a progress or log record (JSON), or plain text such as its error."""
    record = _json_object(line)
    if "progress" in record:
        percent = tracker.update(record)
        if percent is not None:
            feedback.progress(percent)
        return
    if "log" in record:
        message = str(record.get("message", ""))
        (feedback.warning if record["log"] in ("warning", "error", "critical") else feedback.info)(message)
        return
    if line.startswith("Error: "):  # click's one-line error: geotrans's message (and hint); raised by the caller
        outcome.error = line[len("Error: "):]
    else:
        feedback.info(line)


def _json_object(line: str) -> dict:
    if not line.startswith("{"):
        return {}
    try:
        record = json.loads(line)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}
