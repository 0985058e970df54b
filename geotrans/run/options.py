"""How to run one scene, as data.

Every field declares whether it is part of the job's identity: whether a
different value can give a different output file. Identity fields are recorded
in the output's provenance tags and in the fingerprint that folder runs resume
by, both through :meth:`RunOptions.identity`, so a new option is added here, and
in the CLI that sets it, and nowhere else.

The choices of the string options live here too, so that the CLI can offer them
(and ``geotrans --help`` can list them) without importing torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Optional

from geotrans.errors import InputError
from geotrans.io.resolution import RESAMPLINGS
from geotrans.io.tiler import DEFAULT_OVERLAP, DEFAULT_TILE, check_overlap
from geotrans.model.choices import DEVICES, PRECISIONS
from geotrans.model.palette import PALETTES

COMPRESSION_NAMES = ("deflate", "zstd", "lzw", "jpeg", "webp")  # io.sink.COMPRESSIONS holds their options
MAX_SEED = 2**63 - 1  # the largest --seed (torch seeds are 64-bit)
IDENTITY = {"identity": True}  # changes the output file
# changes the output file when set; left out of the identity at its default, so outputs of runs made before the
# option existed stay current (a folder run resumed after an upgrade does not redo them)
ADDED_IDENTITY = {"identity": True, "omit_default": True}
RUNTIME = {"identity": False}  # changes only how (or whether) it is computed


def check_nodata(value: str) -> None:
    """A nodata value is a number (nan too) or ``none``."""
    if str(value).strip().lower() == "none":
        return
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"nodata must be a number or none, not {value!r}") from None
    if math.isinf(number):
        raise InputError(f"nodata must be a finite number, nan or none, not {value!r}")


@dataclass(frozen=True)
class RunOptions:
    """How to run one scene; each field has a CLI option of the same name."""

    batch_size: int = field(default=8, metadata=RUNTIME)  # outputs never depend on batching (per-sample norm)
    overlap: int = field(default=DEFAULT_OVERLAP, metadata=IDENTITY)
    tile_size: int = field(default=DEFAULT_TILE, metadata=IDENTITY)
    device: str = field(default="auto", metadata=RUNTIME)
    precision: str = field(default="auto", metadata=IDENTITY)  # auto, fp32, bf16, fp16: results differ slightly
    overwrite: bool = field(default=False, metadata=RUNTIME)
    dropout_seed: Optional[int] = field(default=None, metadata=IDENTITY)  # None: deterministic, dropout off
    bands: Optional[tuple[int, ...]] = field(default=None, metadata=IDENTITY)  # 1-based R,G,B or one grey band
    cog: bool = field(default=False, metadata=IDENTITY)  # a Cloud Optimized GeoTIFF
    compress: str = field(default="deflate", metadata=IDENTITY)  # a key of io.sink.COMPRESSIONS
    creation_options: tuple[tuple[str, str], ...] = field(default=(), metadata=IDENTITY)  # GDAL's, as in rio --co
    native_res: bool = field(default=False, metadata=IDENTITY)  # keep the model's native grid, not the scene's
    gsd: Optional[float] = field(default=None, metadata=IDENTITY)  # the scene's ground resolution in metres
    resampling: str = field(default="auto", metadata=IDENTITY)  # reading at the model's resolution (RESAMPLINGS)
    allow_ungeoreferenced: bool = field(default=False, metadata=IDENTITY)  # scenes without CRS, in pixel space
    aoi: Optional[str] = field(default=None, metadata=IDENTITY)  # a vector file: only windows touching it; mask outside
    nodata: Optional[str] = field(default=None, metadata=ADDED_IDENTITY)  # a number or none; None: the scene's own
    palette: str = field(default="auto", metadata=IDENTITY)  # auto: snap to the model card's palette, if any
    tta: bool = field(default=False, metadata=IDENTITY)  # mean over the 8 flips and rotations of each tile
    compile: bool = field(default=False, metadata=IDENTITY)  # torch.compile: faster, float rounding differs
    strip_rows: Optional[int] = field(default=None, metadata=RUNTIME)  # on a cluster; None: from the worker count
    huge: bool = field(default=False, metadata=RUNTIME)  # --yes: run a plan beyond plan.MAX_* (RunPlan.check_size)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise InputError("batch size must be at least 1")
        if self.tile_size < 256 or self.tile_size % 256:
            raise InputError("tile size must be a multiple of 256")
        check_overlap(self.overlap, self.tile_size)
        if self.device not in DEVICES:
            raise InputError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.resampling not in RESAMPLINGS:
            raise InputError(f"unknown resampling {self.resampling!r}; choose one of {', '.join(RESAMPLINGS)}")
        if self.compress not in COMPRESSION_NAMES:
            raise InputError(f"unknown compression {self.compress!r}; choose one of {', '.join(COMPRESSION_NAMES)}")
        if self.palette not in PALETTES:
            raise InputError(f"unknown palette choice {self.palette!r}; choose one of {', '.join(PALETTES)}")
        if self.dropout_seed is not None and not 0 <= self.dropout_seed <= MAX_SEED:
            raise InputError(f"seed {self.dropout_seed} is out of range; give a whole number from 0 to {MAX_SEED}")
        if self.compile and self.dropout_seed is not None:
            raise InputError("{compile} runs the generator without dropout; leave out {dropout_seed} or {compile}",
                             options=["compile", "dropout_seed"])
        if self.strip_rows is not None and (self.strip_rows < 256 or self.strip_rows % 256):
            raise InputError(f"strip rows must be a multiple of 256, not {self.strip_rows}")
        if self.nodata is not None:
            check_nodata(self.nodata)
        if self.gsd is not None and not (math.isfinite(self.gsd) and self.gsd > 0):
            raise InputError(f"ground resolution must be a positive number of metres, not {self.gsd}")

    def identity(self) -> dict:
        """The fields that make an output what it is, by name: for provenance tags and resume fingerprints."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["identity"]
                and not (f.metadata.get("omit_default") and getattr(self, f.name) == f.default)}
