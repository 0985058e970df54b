"""geotrans inside QGIS: a Processing provider that runs the ``geotrans`` command.

``geotrans qgis install`` copies this folder into a QGIS profile as the plugin
``geotrans_processing`` and records which ``geotrans`` executable to run. Nothing
here imports torch or rasterio, and only ``command`` is imported outside QGIS.
"""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import GeotransPlugin

    return GeotransPlugin(iface)
