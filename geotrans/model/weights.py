"""Exported generators: safetensors weights with their configuration in the header.

safetensors holds raw tensors and a JSON header only, so loading a file never
runs code (unlike pickle). The default model ships as package data under
``geotrans/default_model/``; nothing is downloaded.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file

from geotrans.errors import ModelError, NoModelError, one_line
from geotrans.model.generator import NORMS, UnetGenerator

log = logging.getLogger(__name__)

FORMAT = "geotrans-generator/1"
MIN_NGF, MAX_NGF = 1, 256  # ngf 256 is 870 M parameters, already far beyond any sensible map model
DEFAULT_MODEL_FILE = "generator.safetensors"


@dataclass(frozen=True)
class ModelInfo:
    """Where a generator came from and how it is built."""

    path: str
    name: str
    ngf: int
    norm: str
    sha256: str
    card: dict

    @property
    def resolution_m(self) -> Optional[float]:
        """The ground resolution the model was trained at (its card's ``native_resolution_m``), if stated."""
        value = self.card.get("native_resolution_m")
        return None if value is None else float(value)

    @property
    def licence(self) -> str:
        """The terms of the model and of the maps it draws, as its card states them."""
        return str(self.card.get("licence") or "not stated on its card")

    def record(self) -> dict:
        """The model as a folder run's summary names it: name, hash and licence."""
        return {"name": self.name, "sha256": self.sha256, "licence": self.licence}


def default_model_path() -> Path:
    """The model shipped with geotrans; raises NoModelError when none is installed."""
    path = Path(str(resources.files("geotrans") / "default_model" / DEFAULT_MODEL_FILE))
    if not path.is_file():
        raise NoModelError(
            "no trained model is installed with geotrans (its package data is missing)",
            hint="give one with --model PATH (a .safetensors generator exported by training/)")
    return path


def card_path(model: str | os.PathLike) -> Path:
    """Where a model's card is written beside it, readable without geotrans: the same name, .json."""
    return Path(model).with_suffix(".json")


def save_generator(net: UnetGenerator, path: str | os.PathLike, name: str, card: dict | None = None,
                   dtype: torch.dtype = torch.float16) -> None:
    """Export ``net``'s weights (fp16 by default) with its architecture in the header."""
    config = {"format": FORMAT, "name": name, "ngf": net.ngf, "norm": net.norm, "card": card or {}}
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in net.state_dict().items()}
    save_file(tensors, os.fspath(path), metadata={"geotrans": json.dumps(config)})


def read_model_info(path: str | os.PathLike | None = None) -> ModelInfo:
    """What the model at ``path`` (default: the shipped model) is, from its header: no generator is built."""
    path, data = _read(path)
    return _model_info(path, data, _header(path, data))


def load_generator(path: str | os.PathLike | None = None, announce: bool = True) -> tuple[UnetGenerator, ModelInfo]:
    """Build the generator stored at ``path`` (default: the shipped model), in float32, eval mode; its
    model line is logged unless the caller says it in its own words (``announce=False``).

    The file is read once: its hash, header and weights all come from the same bytes.
    """
    path, data = _read(path)
    header = _header(path, data)
    info = _model_info(path, data, header)
    _check_shapes(path, data, info)  # before anything the size of the model is allocated
    try:
        tensors = load_safetensors(data)
    except (SafetensorError, ValueError) as err:
        raise ModelError(f"{path}: not a safetensors model file ({one_line(err)})") from None
    bad = next((k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise ModelError(f"{path}: weight {bad} holds NaN or infinite values; the model is broken")
    net = UnetGenerator(ngf=info.ngf, norm=info.norm)
    try:
        net.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    except RuntimeError:
        raise ModelError(f"{path}: weights do not match a U-Net with ngf={info.ngf}") from None
    log.log(logging.INFO if announce else logging.DEBUG, "model %s (ngf=%d, %s norm, sha256 %s)", info.name,
            info.ngf, info.norm, info.sha256[:12])
    log.log(logging.INFO if announce else logging.DEBUG, "licence of the model and its maps: %s", info.licence)
    return net.eval(), info


# The last model file read, kept while it is unchanged: a run reads its card before the plan and its weights
# after, from one read of the file. Key: (absolute path, device, inode, size, modification time).
_LAST_READ: dict[tuple, bytes] = {}


def _read(path: str | os.PathLike | None) -> tuple[Path, bytes]:
    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        st = path.stat()
        key = (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in _LAST_READ:
            data = path.read_bytes()
            _LAST_READ.clear()
            _LAST_READ[key] = data
        return path, _LAST_READ[key]
    except OSError as err:
        raise ModelError(f"{path}: cannot read the model file ({err.strerror})") from None


def _header(path: Path, data: bytes) -> dict:
    """The geotrans configuration in a safetensors header (8-byte little-endian length, then JSON)."""
    try:
        length = int.from_bytes(data[:8], "little")
        if len(data) < 8 or length > len(data) - 8:
            raise ValueError("truncated header")
        header = json.loads(data[8 : 8 + length])
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelError(f"{path}: not a safetensors model file ({one_line(err)})") from None
    try:
        config = json.loads((header.get("__metadata__") or {})["geotrans"])
        if config.get("format") != FORMAT or config.get("norm") not in NORMS:
            raise ValueError(config.get("format"))
        ngf = int(config["ngf"])
    except (KeyError, ValueError, TypeError, AttributeError):
        raise ModelError(f"{path}: safetensors file without a geotrans generator header") from None
    if not MIN_NGF <= ngf <= MAX_NGF:
        raise ModelError(f"{path}: its header claims a U-Net of width ngf={ngf}; geotrans takes {MIN_NGF} to "
                         f"{MAX_NGF}")
    if not isinstance(config.get("card", {}), dict):
        raise ModelError(f"{path}: its model card is a {type(config['card']).__name__}, not a JSON object")
    if not isinstance(config.get("name", ""), str):
        raise ModelError(f"{path}: its model name is a {type(config['name']).__name__}, not text")
    resolution = config.get("card", {}).get("native_resolution_m")
    if resolution is not None and not (isinstance(resolution, (int, float)) and math.isfinite(resolution)
                                       and resolution > 0):
        raise ModelError(f"{path}: its model card gives a ground resolution of {resolution!r}; it must be a "
                         "positive number of metres")
    return config


def _check_shapes(path: Path, data: bytes, info: ModelInfo) -> None:
    """The header's tensor shapes must be the architecture's: checked on torch's meta device, where
    building the network allocates nothing."""
    length = int.from_bytes(data[:8], "little")
    stored = {k: v.get("shape") for k, v in json.loads(data[8 : 8 + length]).items() if k != "__metadata__"}
    with torch.device("meta"):
        expected = {k: list(v.shape) for k, v in UnetGenerator(ngf=info.ngf, norm=info.norm).state_dict().items()}
    if stored != expected:
        raise ModelError(f"{path}: weights do not match a U-Net with ngf={info.ngf}")


def _model_info(path: Path, data: bytes, config: dict) -> ModelInfo:
    return ModelInfo(os.fspath(path), config.get("name", path.stem), int(config["ngf"]), config["norm"],
                     hashlib.sha256(data).hexdigest(), config.get("card", {}))


STYLE_KEYS = ("native_resolution_m", "ground_resolution_method", "palette", "palette_max_delta_e", "palette_method",
              "map_classes", "palette_classes", "map_classes_method")


def inherited_style(model: str | Path, keys: tuple[str, ...] = STYLE_KEYS) -> dict:
    """The map style (resolution, palette, class colours) of a warm start's model, which its runs keep."""
    try:
        card = read_model_info(model).card
    except ModelError as err:
        log.warning("the warm start's card is not readable (%s); its style is not carried over", err)
        return {}
    return {k: card[k] for k in keys if k in card}


def inherited_terms(model: str | Path) -> dict:
    """What a model trained or tuned from ``model`` keeps of its card: the map style and the licence, since a
    model made from one under CC BY-NC-SA is under it too."""
    return inherited_style(model, STYLE_KEYS + ("licence",))
