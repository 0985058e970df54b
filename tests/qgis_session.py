"""Runs inside real QGIS (the system python3 with PyQGIS), started by tests/test_qgis.py.

    python3 tests/qgis_session.py SPEC.json RESULT.json

SPEC names the QGIS plugins folder the plugin was installed into, and the Processing runs
to make; RESULT gets what QGIS's plugin loader said and, for each run, its results, its
log (info, warnings, errors), its progress and the exception, if any. The checks on the
files are made by the tests, with rasterio; this script only drives QGIS.
"""
import json
import os
import sys
import traceback

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import QgsApplication, QgsProcessingFeedback, QgsRasterLayer  # noqa: E402

PLUGIN = "geotrans_processing"


class Recorder(QgsProcessingFeedback):
    """Keeps everything an algorithm tells Processing; cancels at the first progress if asked."""

    def __init__(self, cancel_on_progress=False):
        super().__init__()
        self.log = {"infos": [], "warnings": [], "errors": [], "commands": [], "progress": []}
        self.cancel_on_progress = cancel_on_progress
        self.progressChanged.connect(self._progress)

    def _progress(self, percent):
        self.log["progress"].append(percent)
        if self.cancel_on_progress and 0 < percent < 100:
            self.cancel()

    def pushInfo(self, text):
        self.log["infos"].append(text)

    def pushWarning(self, text):
        self.log["warnings"].append(text)

    def pushCommandInfo(self, text):
        self.log["commands"].append(text)

    def reportError(self, text, fatalError=False):
        self.log["errors"].append(text)


def load_plugin(plugins_folder):
    """What QGIS does at start-up: find the plugin, parse its metadata, import it, call classFactory."""
    import qgis.utils

    sys.path.insert(0, plugins_folder)
    qgis.utils.plugin_paths = [plugins_folder]
    qgis.utils.updateAvailablePlugins()
    found = PLUGIN in qgis.utils.available_plugins
    metadata = {key: qgis.utils.pluginMetadata(PLUGIN, key)
                for key in ("name", "version", "qgisMinimumVersion", "hasProcessingProvider", "icon")}
    loaded = found and qgis.utils.loadPlugin(PLUGIN)
    started = loaded and qgis.utils.startProcessingPlugin(PLUGIN)
    instance = qgis.utils.plugins.get(PLUGIN)
    provider = QgsApplication.processingRegistry().providerById("geotrans")
    from pyplugin_installer.installer_data import plugins as plugin_manager

    manager = plugin_manager.getInstalledPlugin(PLUGIN, os.path.join(plugins_folder, PLUGIN), readOnly=False)
    return {"found": found, "metadata": metadata, "loaded": bool(loaded), "started": bool(started),
            "class": type(instance).__name__ if instance is not None else None,
            "algorithms": sorted(a.id() for a in provider.algorithms()) if provider else [],
            "manager_error": manager.get("error", "?"), "manager_name": manager.get("name")}


def input_layer(value):
    """A parameter value from the spec; {"xyz": URL} makes a web tile layer (one without a file)."""
    if isinstance(value, dict) and "xyz" in value:
        layer = QgsRasterLayer(f"type=xyz&url={value['xyz']}&zmin=0&zmax=19", "tiles", "wms")
        return layer
    return value


def in_task(run, parameters, feedback):
    """As the algorithm dialog runs it: a QgsProcessingAlgRunnerTask on a worker thread, its output a layer
    definition bound for the project; returns the task's results and the layers QGIS would load."""
    import time

    from qgis.core import (
        QgsProcessingAlgRunnerTask,
        QgsProcessingContext,
        QgsProcessingOutputLayerDefinition,
        QgsProject,
    )
    from qgis.PyQt.QtCore import QCoreApplication

    algorithm = QgsApplication.processingRegistry().createAlgorithmById(run["algorithm"])
    output = QgsProcessingOutputLayerDefinition(parameters["OUTPUT"], QgsProject.instance())
    parameters = {**parameters, "OUTPUT": output}
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    task = QgsProcessingAlgRunnerTask(algorithm, parameters, context, feedback)
    done = {}
    task.executed.connect(lambda ok, results: done.update(ok=ok, results=results))
    QgsApplication.taskManager().addTask(task)
    started = time.monotonic()
    while "ok" not in done and time.monotonic() - started < 600:
        QCoreApplication.processEvents()
        time.sleep(0.02)
    loaded = []
    for path in context.layersToLoadOnCompletion():  # what the dialog then adds to the project
        layer = QgsRasterLayer(path, "map")
        loaded.append({"path": path, "valid": layer.isValid(), "crs": layer.crs().authid()})
    return done.get("ok"), done.get("results") or {}, loaded


def run_one(run):
    import processing

    feedback = Recorder(run.get("cancel_on_progress", False))
    parameters = {k: input_layer(v) for k, v in run["parameters"].items()}
    result = {"results": None, "exception": None, "traceback": None}
    if run.get("task"):
        ok, outputs, loaded = in_task(run, parameters, feedback)
        result.update(feedback.log, ok=ok, loaded=loaded, cancelled=feedback.isCanceled(),
                      results={k: str(v) for k, v in outputs.items()})
        return result
    from qgis.core import QgsProcessingContext, QgsProject

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    try:
        outputs = processing.run(run["algorithm"], parameters, context=context, feedback=feedback)
        result["results"] = {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
                             for k, v in outputs.items()}
    except Exception as err:  # what QGIS shows the user: the exception's message
        result["exception"] = f"{type(err).__name__}: {err}"
        result["traceback"] = traceback.format_exc()
    result.update(feedback.log, cancelled=feedback.isCanceled(), loads=sorted(context.layersToLoadOnCompletion()))
    if run.get("open_layers") and result["results"]:
        result["layers"] = open_layers(result["results"]["OUTPUT"])
    return result


def open_layers(path):
    """Each layer of a GeoPackage as QGIS opens it: valid, geometry type, CRS, feature count, fields."""
    from qgis.core import QgsVectorLayer, QgsWkbTypes

    layers = {}
    whole = QgsVectorLayer(path, "all", "ogr")  # held: its provider lives as long as the layer
    for sub in whole.dataProvider().subLayers():
        name = sub.split("!!::!!")[1]
        layer = QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
        layers[name] = {"valid": layer.isValid(), "geometry": QgsWkbTypes.displayString(layer.wkbType()),
                        "crs": layer.crs().authid(), "features": layer.featureCount(),
                        "fields": [f.name() for f in layer.fields() if f.name() != "fid"]}
    return layers


def main(spec_path, result_path):
    spec = json.loads(open(spec_path).read())
    app = QgsApplication([], False)
    app.initQgis()
    sys.path += [os.path.join(QgsApplication.pkgDataPath(), "python"),
                 os.path.join(QgsApplication.pkgDataPath(), "python", "plugins")]
    from processing.core.Processing import Processing

    Processing.initialize()
    report = {"loader": load_plugin(spec["plugins"]), "runs": {}}
    for run in spec["runs"]:
        report["runs"][run["name"]] = run_one(run)
    with open(result_path, "w") as out:
        json.dump(report, out, indent=1)
    app.exitQgis()


if __name__ == "__main__":
    main(*sys.argv[1:3])
