"""The module paths of geotrans 0.1.0 (34 flat modules), kept for one release: ``import geotrans.weights``
still works, as the module's new home (``geotrans.model.weights``), with a DeprecationWarning naming it.
``geotrans.render`` and ``geotrans.output`` were split (style and labels; sink and files) and are not
kept. The library's API, ``from geotrans import ...``, is unchanged."""
from __future__ import annotations

import importlib
import sys
import warnings
from importlib.machinery import ModuleSpec  # (not importlib.util nor .abc: they import tempfile and typing)

MOVED = {
    "geotrans.background": "geotrans.run.background", "geotrans.bands": "geotrans.io.bands",
    "geotrans.batch": "geotrans.jobs.batch", "geotrans.distributed": "geotrans.jobs.distributed",
    "geotrans.folder": "geotrans.jobs.folder", "geotrans.footprint": "geotrans.io.footprint",
    "geotrans.gdal_messages": "geotrans.io.gdal_messages", "geotrans.info": "geotrans.run.info",
    "geotrans.mosaic": "geotrans.run.mosaic", "geotrans.network": "geotrans.io.network",
    "geotrans.options": "geotrans.run.options", "geotrans.palette": "geotrans.model.palette",
    "geotrans.pipeline": "geotrans.run.pipeline", "geotrans.plan": "geotrans.run.plan",
    "geotrans.precision": "geotrans.model.precision", "geotrans.preview": "geotrans.run.preview",
    "geotrans.qgis_install": "geotrans.qgis.install", "geotrans.resolution": "geotrans.io.resolution",
    "geotrans.runner": "geotrans.run.runner", "geotrans.scene": "geotrans.io.scene",
    "geotrans.split": "geotrans.jobs.split", "geotrans.targets": "geotrans.io.targets",
    "geotrans.tiler": "geotrans.io.tiler", "geotrans.vectorize": "geotrans.vectors.vectorize",
    "geotrans.weights": "geotrans.model.weights",
}


class MovedModules:
    """A finder and loader (``sys.meta_path``): an old path of ``MOVED`` loads as the module at its new path."""

    def find_spec(self, name, path=None, target=None):
        return ModuleSpec(name, self) if name in MOVED else None

    def create_module(self, spec):
        warnings.warn(f"{spec.name} is now {MOVED[spec.name]}; the old path goes in the next release",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module) -> None:
        """The new module is imported already."""


def keep_old_paths() -> None:
    """Let the old paths import (once per interpreter)."""
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
