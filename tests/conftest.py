"""Fixtures: small models and stand-in generators (helpers live in helpers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from geotrans.model import build_generator
from geotrans.weights import save_generator
from helpers import IdentityGenerator


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
