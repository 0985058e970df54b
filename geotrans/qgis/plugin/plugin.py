"""The QGIS plugin: registers the geotrans Processing provider (in QGIS and in qgis_process)."""
from __future__ import annotations

from qgis.core import QgsApplication

from .provider import GeotransProvider


class GeotransPlugin:

    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None

    def initProcessing(self) -> None:
        """Called by qgis_process and by ``initGui``."""
        if self.provider is None:
            self.provider = GeotransProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:
        self.initProcessing()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
