"""Exported generators: safetensors weights with their configuration in the header.

safetensors holds raw tensors and a JSON header only, so loading a file never
runs code (unlike pickle). The default model ships as package data under
``geotrans/default_model/``; nothing is downloaded.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from geotrans.errors import ModelError, NoModelError, one_line
from geotrans.model import NORMS, UnetGenerator

log = logging.getLogger(__name__)

FORMAT = "geotrans-generator/1"
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


def default_model_path() -> Path:
    """The model shipped with geotrans; raises NoModelError when none is installed."""
    path = Path(str(resources.files("geotrans") / "default_model" / DEFAULT_MODEL_FILE))
    if not path.is_file():
        raise NoModelError(
            "no trained model is installed with geotrans (its package data is missing); "
            "give one with --model PATH (a .safetensors generator exported by training/)"
        )
    return path


def save_generator(net: UnetGenerator, path: str | os.PathLike, name: str, card: dict | None = None,
                   dtype: torch.dtype = torch.float16) -> None:
    """Export ``net``'s weights (fp16 by default) with its architecture in the header."""
    config = {"format": FORMAT, "name": name, "ngf": net.ngf, "norm": net.norm, "card": card or {}}
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in net.state_dict().items()}
    save_file(tensors, os.fspath(path), metadata={"geotrans": json.dumps(config)})


def load_generator(path: str | os.PathLike | None = None) -> tuple[UnetGenerator, ModelInfo]:
    """Build the generator stored at ``path`` (default: the shipped model), in float32, eval mode."""
    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        with safe_open(os.fspath(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelError(f"{path}: not a safetensors model file ({one_line(err)})") from None
    try:
        config = json.loads(metadata["geotrans"])
        if config.get("format") != FORMAT or config.get("norm") not in NORMS:
            raise ValueError(config.get("format"))
        net = UnetGenerator(ngf=int(config["ngf"]), norm=config["norm"])
    except (KeyError, ValueError, TypeError):
        raise ModelError(f"{path}: safetensors file without a geotrans generator header") from None
    try:
        net.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    except RuntimeError:
        raise ModelError(f"{path}: weights do not match a U-Net with ngf={config['ngf']}") from None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    info = ModelInfo(os.fspath(path), config.get("name", path.stem), net.ngf, net.norm, digest, config.get("card", {}))
    log.info("model %s (ngf=%d, %s norm, sha256 %s)", info.name, info.ngf, info.norm, digest[:12])
    return net.eval(), info
