"""geotrans: GeoTIFF satellite and aerial scenes to map-style GeoTIFFs with a pix2pix generator.

The pipeline reads like the package: ``plan.plan_run`` decides a run (``scene``
inspects the source, ``tiler`` lays windows), and ``pipeline.translate`` executes
it: ``scene`` reads windows, ``runner`` batches them through the generator of
``model``, ``mosaic`` blends, and ``output`` writes the GeoTIFF. ``cli`` is a
thin click layer over them.
"""
__version__ = "0.1.0"

__all__ = ["GeotransError", "RunOptions", "RunPlan", "RunReport", "plan_run", "translate", "__version__"]
_EXPORTS = {"GeotransError": "geotrans.errors", "RunOptions": "geotrans.options", "RunPlan": "geotrans.plan",
            "plan_run": "geotrans.plan", "RunReport": "geotrans.pipeline", "translate": "geotrans.pipeline"}


def __getattr__(name: str):
    """The library API, imported on first use: ``import geotrans`` stays light (no torch) for the CLI's start."""
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'geotrans' has no attribute {name!r}")
