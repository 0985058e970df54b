"""geotrans: GeoTIFF satellite and aerial scenes to map-style GeoTIFFs with a pix2pix generator.

The sub-packages are the pipeline's layers, each importing only those below it (``tests/test_layers.py``):

- ``model``: the generator, its weights and card, its arithmetic, the map style;
- ``io``: reading scenes and labels, cutting windows, writing maps and files safely;
- ``run``: one run of one scene: ``plan.plan_run`` decides it, ``pipeline.translate`` executes it;
- ``vectors``: a map into GIS layers;
- ``jobs``: what a user starts: ``scene.run_scene`` (one scene), ``folder.run_folder`` (a folder, Dask);
- ``training``: the pix2pix training loop and ``geotrans tune``;
- ``qgis``: the QGIS plugin and its installer;
- ``cli``: the ``geotrans`` command, a thin layer over them.

``errors`` and ``interrupts`` are shared by all. The names below are the library's API, imported on first
use so that ``import geotrans`` (and the CLI's start) stays light, without torch. ``CHANGELOG.md`` says
what changed between releases.
"""
__version__ = "0.2.0"  # CHANGELOG.md says what a user of the one before must change

__all__ = ["Cluster", "FolderJob", "GeotransError", "RunOptions", "RunPlan", "RunReport", "load_generator",
           "plan_run", "run_folder", "run_scene", "translate", "__version__"]


def __getattr__(name: str):
    """The library API (``__all__``), imported on first use."""
    if name == "GeotransError":
        from geotrans.errors import GeotransError
        return GeotransError
    if name in ("Cluster", "FolderJob"):
        from geotrans.jobs import options
        return getattr(options, name)
    if name == "RunOptions":
        from geotrans.run.options import RunOptions
        return RunOptions
    if name in ("RunPlan", "plan_run"):
        from geotrans.run import plan
        return getattr(plan, name)
    if name in ("RunReport", "translate"):
        from geotrans.run import pipeline
        return getattr(pipeline, name)
    if name == "load_generator":
        from geotrans.model.weights import load_generator
        return load_generator
    if name == "run_scene":
        from geotrans.jobs.scene import run_scene
        return run_scene
    if name == "run_folder":
        from geotrans.jobs.folder import run_folder
        return run_folder
    raise AttributeError(f"module 'geotrans' has no attribute {name!r}")
