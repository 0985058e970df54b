"""geotrans: GeoTIFF satellite and aerial scenes to map-style GeoTIFFs with a pix2pix generator.

The pipeline reads like the package: ``tiler`` lays windows, ``scene`` reads them,
``runner`` pushes batches through the generator of ``model``, ``mosaic`` blends
and streams the result into a GeoTIFF; ``pipeline.translate`` ties them together
and ``cli`` is a thin click layer over it.
"""
__version__ = "0.1.0"

from geotrans.errors import GeotransError  # noqa: E402
from geotrans.pipeline import RunOptions, RunReport, translate  # noqa: E402

__all__ = ["GeotransError", "RunOptions", "RunReport", "translate", "__version__"]
