"""The geotrans Processing provider: its three algorithms, and GeoTIFF as the only raster output."""
from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import FineTune, ScenePlan, TranslateFolder, TranslateScene, VectorizeMap

ICON = Path(__file__).resolve().parent / "icon.svg"


class GeotransProvider(QgsProcessingProvider):

    def id(self) -> str:
        return "geotrans"

    def name(self) -> str:
        return "geotrans"

    def longName(self) -> str:
        return "geotrans: satellite and aerial scenes to maps (pix2pix)"

    def icon(self) -> QIcon:
        return QIcon(str(ICON))

    def loadAlgorithms(self) -> None:
        for algorithm in (TranslateScene(), TranslateFolder(), ScenePlan(), FineTune(), VectorizeMap()):
            self.addAlgorithm(algorithm)

    def supportedOutputRasterLayerExtensions(self) -> list[str]:
        return ["tif"]

    def defaultRasterFileExtension(self) -> str:
        return "tif"
