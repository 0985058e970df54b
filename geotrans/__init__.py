"""geotrans: GeoTIFF satellite and aerial scenes to map-style GeoTIFFs with a pix2pix generator.

The pipeline reads like the package: ``plan.plan_run`` decides a run (``scene``
inspects the source, ``tiler`` lays windows), and ``pipeline.translate`` executes
it: ``scene`` reads windows, ``runner`` batches them through the generator of
``model``, ``mosaic`` blends, and ``output`` writes the GeoTIFF. ``cli`` is a
thin click layer over them.
"""
__version__ = "0.1.0"

from geotrans.errors import GeotransError  # noqa: E402
from geotrans.options import RunOptions  # noqa: E402
from geotrans.pipeline import RunReport, translate  # noqa: E402
from geotrans.plan import RunPlan, plan_run  # noqa: E402

__all__ = ["GeotransError", "RunOptions", "RunPlan", "RunReport", "plan_run", "translate", "__version__"]
