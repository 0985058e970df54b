"""Fixtures: small models and stand-in generators (helpers live in helpers.py)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from helpers import LANDSAT, IdentityGenerator

from geotrans.model.generator import build_generator
from geotrans.model.weights import save_generator


@pytest.fixture(scope="session", autouse=True)
def private_temp_folder(tmp_path_factory):
    """The system's temp folder, for this session and the processes it starts (torchrun's torchelastic_*,
    Dask's dask-scratch-space, torch.compile's caches), is a folder of pytest's own: a test run leaves
    nothing in /tmp but pytest's basetemp."""
    folder = tmp_path_factory.mktemp("system-temp")
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None  # re-read from TMPDIR
    yield folder
    if before is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before
    tempfile.tempdir = None


@pytest.fixture
def identity() -> IdentityGenerator:
    return IdentityGenerator()


@pytest.fixture(scope="session")
def narrow_model_file(tmp_path_factory) -> Path:
    """A randomly initialised ngf=8 generator, exported: fast, for plumbing tests only."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "narrow.safetensors"
    save_generator(build_generator(ngf=8), path, name="random-ngf8-test")
    return path


@pytest.fixture
def scene(tmp_path) -> Path:
    """A copy of a real sample scene that the test may see destroyed (it must not be)."""
    path = tmp_path / "in.tif"
    shutil.copy(LANDSAT, path)
    return path
