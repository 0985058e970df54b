"""The Processing algorithms: translate a scene, translate a folder, show a scene's plan, fine-tune on my area,
vectorize a map.

Each one turns its parameters into a `geotrans` command line (``command``), runs it as a
child process, and turns its progress, log and one-line error into Processing's.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingUtils,
    QgsProviderRegistry,
)

from . import command

PLUGIN_FOLDER = Path(__file__).resolve().parent
SUMMARY = command.SUMMARY
WGS84 = "EPSG:4326"


class QgisFeedback(command.Feedback):
    """Processing's feedback as the ``command.Feedback`` a run reports to."""

    def __init__(self, feedback):
        self.feedback = feedback

    def is_cancelled(self) -> bool:
        return bool(self.feedback and self.feedback.isCanceled())

    def progress(self, percent: float) -> None:
        if self.feedback:
            self.feedback.setProgress(percent)

    def info(self, line: str) -> None:
        if self.feedback and line.strip():
            self.feedback.pushInfo(line)

    def warning(self, line: str) -> None:
        if self.feedback:
            self.feedback.pushWarning(line)


def _advanced(parameter):
    parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return parameter


class GeotransAlgorithm(QgsProcessingAlgorithm):
    """What the three algorithms share: their group, the model parameter and running geotrans."""

    def group(self) -> str:
        return ""

    def groupId(self) -> str:
        return ""

    def createInstance(self):
        return type(self)()

    def run_geotrans(self, arguments: list[str], feedback, nothing_written: str,
                     failure_ok: bool = False) -> command.Outcome:
        """Run geotrans; a failure raises its one-line message (unless ``failure_ok``), a cancel says
        what was (not) written."""
        try:
            install = command.Install.read(PLUGIN_FOLDER)
            feedback.pushCommandInfo(" ".join([*install.command, *arguments]))
            outcome = command.run(install, arguments, QgisFeedback(feedback))
        except command.RunError as err:
            raise QgsProcessingException(str(err)) from None
        if outcome.cancelled:
            raise QgsProcessingException(f"cancelled; {nothing_written}")
        if not outcome.ok and not failure_ok:
            raise QgsProcessingException(outcome.error)
        return outcome

    def add_model_parameter(self) -> None:
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", "Model file (.safetensors; empty: the shipped model)", extension="safetensors", optional=True))

    def add_engine_parameters(self) -> None:
        self.addParameter(QgsProcessingParameterEnum(
            "DEVICE", "Device", options=list(command.DEVICES), defaultValue="auto", usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterBoolean("COG", "Write a Cloud Optimized GeoTIFF", defaultValue=False))
        self.add_overlap_parameter()
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            "BATCH_SIZE", "Tiles per batch", QgsProcessingParameterNumber.Integer,
            defaultValue=command.DEFAULT_BATCH_SIZE, minValue=1)))
        self.addParameter(_advanced(QgsProcessingParameterEnum(
            "PRECISION", "Precision (auto: bf16 where the CPU or GPU has it natively)",
            options=list(command.PRECISIONS), defaultValue="auto", usesStaticStrings=True)))
        self.addParameter(_advanced(QgsProcessingParameterBoolean(
            "COMPILE", "Compile the generator (faster on large scenes after a build of up to 40 s; needs g++)",
            defaultValue=False)))
        self.addParameter(_advanced(QgsProcessingParameterEnum(
            "COMPRESS", "Compression (jpeg and webp are lossy; the mask stays a mask)",
            options=list(command.COMPRESSIONS), defaultValue="deflate", usesStaticStrings=True)))

    def add_overlap_parameter(self) -> None:
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            "OVERLAP", "Overlap between 256 px tiles (pixels)", QgsProcessingParameterNumber.Integer,
            defaultValue=command.DEFAULT_OVERLAP, minValue=0, maxValue=128)))

    def add_scene_parameters(self) -> None:
        """The scene and how it is read: INPUT, MODEL, BANDS, and the area (AOI layer, EXTENT)."""
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Scene (a raster layer with a file)"))
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterBand(
            "BANDS", "Bands as R,G,B, or one band for grey (empty: from the scene)", parentLayerParameterName="INPUT",
            optional=True, allowMultiple=True))
        self.add_area_parameters()

    def scene_options(self, parameters, context) -> dict:
        """The scene parameters as ``command`` arguments (the AOI written to a GeoJSON file)."""
        return dict(model=self.model(parameters, context),
                    bands=self.parameterAsInts(parameters, "BANDS", context) or (),
                    aoi=self.area_file(parameters, context),
                    overlap=self.parameterAsInt(parameters, "OVERLAP", context))

    def engine_options(self, parameters, context) -> dict:
        return dict(batch_size=self.parameterAsInt(parameters, "BATCH_SIZE", context),
                    device=self.parameterAsEnumString(parameters, "DEVICE", context),
                    precision=self.parameterAsEnumString(parameters, "PRECISION", context),
                    cog=self.parameterAsBoolean(parameters, "COG", context),
                    compile=self.parameterAsBoolean(parameters, "COMPILE", context),
                    compress=self.parameterAsEnumString(parameters, "COMPRESS", context))

    def model(self, parameters, context) -> Optional[str]:
        return self.parameterAsFile(parameters, "MODEL", context) or None

    def scene_path(self, parameters, context) -> str:
        """The file behind the INPUT raster layer; layers without one are refused."""
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        if layer is None:
            raise QgsProcessingException("INPUT: not a raster layer or raster file")
        return file_source(layer)

    def add_area_parameters(self) -> None:
        self.addParameter(QgsProcessingParameterFeatureSource(
            "AOI", "Area of interest (polygon layer; only windows touching it run)",
            [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterExtent(
            "EXTENT", "Area of interest as an extent (e.g. the map canvas)", optional=True))

    def area_file(self, parameters, context) -> Optional[str]:
        """The AOI layer's polygons, cut to the EXTENT when both are given, as a WGS84 GeoJSON file."""
        wgs84 = QgsCoordinateReferenceSystem(WGS84)
        area: Optional[QgsGeometry] = None
        source = self.parameterAsSource(parameters, "AOI", context)
        if source is not None:
            to_wgs84 = QgsCoordinateTransform(source.sourceCrs(), wgs84, context.transformContext())
            parts = []
            for feature in source.getFeatures():
                geometry = QgsGeometry(feature.geometry())
                if not geometry.isEmpty():
                    geometry.transform(to_wgs84)
                    parts.append(geometry)
            if not parts:
                raise QgsProcessingException("AOI: the layer has no polygons")
            area = QgsGeometry.unaryUnion(parts)
        if parameters.get("EXTENT") not in (None, ""):
            extent = self.parameterAsExtentGeometry(parameters, "EXTENT", context, wgs84)
            if extent is not None and not extent.isEmpty():
                area = extent if area is None else area.intersection(extent)
        if area is None:
            return None
        if area.isEmpty():
            raise QgsProcessingException("AOI: the layer's polygons and the extent do not overlap")
        path = QgsProcessingUtils.generateTempFilename("aoi.geojson")
        Path(path).write_text(json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {}, "geometry": json.loads(area.asJson(9))}]}), encoding="utf-8")
        return path


def file_source(layer) -> str:
    """The GDAL file (or /vsi path) a raster layer reads; web services and databases are refused."""
    name = layer.name()
    if layer.providerType() != "gdal":
        raise QgsProcessingException(f"{name}: a {layer.providerType()} layer has no file for geotrans to read; "
                                     "save it as a GeoTIFF first (Export > Save As)")
    parts = QgsProviderRegistry.instance().decodeUri("gdal", layer.source())
    path = parts.get("path") or ""
    if not (path.startswith("/vsi") or os.path.isfile(path)):
        raise QgsProcessingException(f"{name}: its source {layer.source()} is not a file geotrans can read; "
                                     "save it as a GeoTIFF first (Export > Save As)")
    extra = {k: v for k, v in parts.items() if k != "path" and v}
    return layer.source() if extra else path


class TranslateScene(GeotransAlgorithm):
    """A scene to a map on the scene's own grid."""

    def name(self) -> str:
        return "translate_scene"

    def displayName(self) -> str:
        return "Translate scene to map"

    def shortHelpString(self) -> str:
        return ("Turns a satellite or aerial scene into a map-style GeoTIFF with the pix2pix generator. The map "
                "has the scene's CRS and grid, so it lies exactly over it; nodata stays transparent. geotrans runs "
                "as its own process (torch never enters QGIS); Cancel stops it and leaves no file behind.")

    def initAlgorithm(self, config=None) -> None:
        self.add_scene_parameters()
        self.add_engine_parameters()
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Map"))
        self.addParameter(QgsProcessingParameterFileDestination(
            "VECTORS", "Map features (roads, water, green, buildings)", fileFilter="GeoPackage (*.gpkg)",
            optional=True, createByDefault=False))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        src = self.scene_path(parameters, context)
        dst = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        vectors = self.parameterAsFileOutput(parameters, "VECTORS", context) or None
        arguments = command.scene_arguments(src, dst, **self.scene_options(parameters, context),
                                            **self.engine_options(parameters, context), vectors=vectors)
        self.run_geotrans(arguments, feedback, f"nothing was written to {dst}")
        if vectors:
            load_feature_layers(vectors, context)
        return {"OUTPUT": dst, "VECTORS": vectors}


class TranslateFolder(GeotransAlgorithm):
    """Every scene of a folder, resumably, with a summary."""

    def name(self) -> str:
        return "translate_folder"

    def displayName(self) -> str:
        return "Translate folder of scenes"

    def shortHelpString(self) -> str:
        return ("Translates every scene in a folder into a map of the same name in the output folder and writes "
                f"{SUMMARY} there. Run it again to finish an interrupted folder: complete, current maps are "
                "skipped. Scenes that fail are listed in the log; the others are still translated.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFile("INPUT", "Folder of scenes",
                                                     behavior=QgsProcessingParameterFile.Folder))
        self.addParameter(QgsProcessingParameterString(
            "PATTERN", "File name patterns (empty: *.tif *.tiff)", optional=True))
        self.addParameter(QgsProcessingParameterBoolean("RECURSIVE", "Include sub-folders", defaultValue=False))
        self.addParameter(QgsProcessingParameterBoolean(
            "FORCE", "Redo scenes whose map is complete and current", defaultValue=False))
        self.add_model_parameter()
        self.add_engine_parameters()
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "Output folder"))
        self.addOutput(QgsProcessingOutputFile("SUMMARY", "Summary (JSON)"))
        for name in ("DONE", "SKIPPED", "FAILED"):
            self.addOutput(QgsProcessingOutputNumber(name, f"Scenes {name.lower()}"))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        src = self.parameterAsFile(parameters, "INPUT", context)
        dst = self.parameterAsString(parameters, "OUTPUT", context)
        summary = Path(dst) / SUMMARY
        before = summary.stat().st_mtime_ns if summary.exists() else None
        arguments = command.folder_arguments(
            src, dst, patterns=command.split_patterns(self.parameterAsString(parameters, "PATTERN", context)),
            recursive=self.parameterAsBoolean(parameters, "RECURSIVE", context),
            force=self.parameterAsBoolean(parameters, "FORCE", context), model=self.model(parameters, context),
            overlap=self.parameterAsInt(parameters, "OVERLAP", context), **self.engine_options(parameters, context))
        outcome = self.run_geotrans(arguments, feedback, f"finished scenes are recorded in {summary}",
                                    failure_ok=True)
        if not summary.exists() or summary.stat().st_mtime_ns == before:
            raise QgsProcessingException(outcome.error or f"geotrans wrote no {SUMMARY}")
        # Failed scenes are reported from the summary; the others were still translated.
        totals = json.loads(summary.read_text(encoding="utf-8"))
        for scene in totals["scenes"]:
            if scene["status"] == "failed":
                error = scene["error"] if scene["error"].startswith(scene["src"]) else \
                    f"{scene['src']}: {scene['error']}"
                feedback.reportError(error, False)
        counts = totals["totals"]
        if counts["failed"]:
            feedback.reportError(f"{counts['failed']} of {counts['scenes']} scenes failed; see {summary}", False)
        return {"OUTPUT": dst, "SUMMARY": str(summary), "DONE": counts["done"], "SKIPPED": counts["current"],
                "FAILED": counts["failed"]}


class ScenePlan(GeotransAlgorithm):
    """`geotrans info`: what a run would do, without running the model."""

    def name(self) -> str:
        return "scene_plan"

    def displayName(self) -> str:
        return "Scene plan (what a run would do)"

    def shortHelpString(self) -> str:
        return ("Shows what translating the scene would do, without running the model: size, CRS and ground "
                "resolution against the model's, bands and scaling, the valid fraction, the windows to run and "
                "skip, and a time estimate.")

    def initAlgorithm(self, config=None) -> None:
        self.add_scene_parameters()
        self.add_overlap_parameter()
        self.addOutput(QgsProcessingOutputString("PLAN", "Plan"))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        arguments = command.plan_arguments(self.scene_path(parameters, context),
                                           **self.scene_options(parameters, context))
        outcome = self.run_geotrans(arguments, feedback, "nothing was run")
        return {"PLAN": "\n".join(outcome.stdout)}


def load_feature_layers(path: str, context) -> None:
    """Ask Processing to add the GeoPackage's layers to the project when the algorithm finishes."""
    for name in command.VECTOR_LAYERS:
        details = QgsProcessingContext.LayerDetails(name, context.project(), name, QgsProcessingUtils.LayerHint.Vector)
        context.addLayerToLoadOnCompletion(f"{path}|layername={name}", details)


class VectorizeMap(GeotransAlgorithm):
    """`geotrans vectorize`: a map's roads as centre lines and its water, green and buildings as polygons."""

    def name(self) -> str:
        return "vectorize_map"

    def displayName(self) -> str:
        return "Vectorize map"

    def shortHelpString(self) -> str:
        return ("Turns a geotrans map into GIS layers in a GeoPackage: roads as centre lines that end at "
                "junctions and dead ends (with class, width and length), water, green and buildings as "
                "polygons with their holes (with area). The layers are in the map's CRS and are added to the "
                "project. Polygons smaller than the minimum area are dropped.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Map (made by geotrans)"))
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            "MIN_AREA", "Minimum polygon area, m² (empty: 20 m² or 4 pixels)", QgsProcessingParameterNumber.Double,
            minValue=0.0, optional=True)))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", "Map features", fileFilter="GeoPackage (*.gpkg)"))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        src = self.scene_path(parameters, context)
        dst = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        min_area = parameters.get("MIN_AREA")
        min_area = None if min_area in (None, "") else self.parameterAsDouble(parameters, "MIN_AREA", context)
        outcome = self.run_geotrans(command.vectorize_arguments(src, dst, min_area=min_area), feedback,
                                    f"nothing was written to {dst}")
        for line in outcome.stdout:  # the layers and their feature counts
            feedback.pushInfo(line)
        load_feature_layers(dst, context)
        return {"OUTPUT": dst}


def vector_file(layer) -> str:
    """The file a vector layer reads (GeoPackage, Shapefile, GeoJSON ...); memory and database layers are
    refused. A GeoPackage layer other than the file's first is refused too: geotrans reads the first."""
    name = layer.name()
    if layer.providerType() != "ogr":
        raise QgsProcessingException(f"{name}: a {layer.providerType()} layer has no file for geotrans to read; "
                                     "save it as a GeoPackage first (Export > Save Features As)")
    parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
    path = parts.get("path") or ""
    if not os.path.isfile(path):
        raise QgsProcessingException(f"{name}: its source {layer.source()} is not a file geotrans can read")
    if parts.get("layerName") or parts.get("layerId"):
        raise QgsProcessingException(f"{name}: one layer of a file with several; save it to a file of its own "
                                     "(Export > Save Features As)")
    return path


class FineTune(GeotransAlgorithm):
    """`geotrans tune`: the model fine-tuned on the project's scenes and labels, scored before and after."""

    def name(self) -> str:
        return "fine_tune"

    def displayName(self) -> str:
        return "Fine-tune on my area"

    def shortHelpString(self) -> str:
        return ("Teaches the model your region: draws your vector labels (OpenStreetMap tags or a 'class' "
                "attribute: roads, water, green, buildings) in the map style on your scenes and fine-tunes the "
                "model on them for the minutes given. The east part of each scene (the hold-out share of its "
                "labels) never trains: the log shows the base and the tuned model scored there. A tuned model "
                "worse than its base is not written. Use the result as the Model file of the other algorithms.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterMultipleLayers("SCENES", "Scenes (raster layers with files)",
                                                               QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterMultipleLayers("LABELS", "Labels (vector layers with files)",
                                                               QgsProcessing.TypeVectorAnyGeometry))
        self.addParameter(QgsProcessingParameterNumber(
            "MINUTES", "Minutes of training", QgsProcessingParameterNumber.Double, defaultValue=60.0, minValue=0.1))
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterEnum(
            "LABEL_CLASS", "Class of features without OSM tags or a 'class' attribute (e.g. street for road lines)",
            options=list(command.MAP_CLASSES), optional=True, usesStaticStrings=True))
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            "HOLDOUT", "Share of the labelled area kept out of training to score on",
            QgsProcessingParameterNumber.Double, defaultValue=0.2, minValue=0.05, maxValue=0.5)))
        self.addParameter(_advanced(QgsProcessingParameterBoolean(
            "KEEP_WORSE", "Write the tuned model even if it scores worse than its base", defaultValue=False)))
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", "Tuned model", fileFilter="geotrans model (*.safetensors)"))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        scenes = [file_source(layer) for layer in self.parameterAsLayerList(parameters, "SCENES", context)]
        labels = [vector_file(layer) for layer in self.parameterAsLayerList(parameters, "LABELS", context)]
        if not scenes or not labels:
            raise QgsProcessingException("give at least one scene and one label layer")
        dst = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        label_class = self.parameterAsEnumString(parameters, "LABEL_CLASS", context) or None
        arguments = command.tune_arguments(
            scenes, labels, dst, model=self.model(parameters, context),
            minutes=self.parameterAsDouble(parameters, "MINUTES", context),
            holdout=self.parameterAsDouble(parameters, "HOLDOUT", context), label_class=label_class,
            keep_worse=self.parameterAsBoolean(parameters, "KEEP_WORSE", context))
        outcome = self.run_geotrans(arguments, feedback, f"nothing was written to {dst}", failure_ok=True)
        for line in outcome.stdout:  # the before/after table, also when the tuned model is refused for it
            feedback.pushInfo(line)
        if not outcome.ok:
            raise QgsProcessingException(outcome.error)
        return {"OUTPUT": dst}
