"""Takes the README's two QGIS screenshots, inside the real QGIS desktop (run by hand, not a test).

    geotrans run sample_tiles/korea_rgb_jpeg_3857.tif --out /tmp/korea_map.tif --aoi docs/korea_aoi.geojson
    env -i PATH=/usr/bin:/bin HOME=$HOME GEOTRANS_SHOT_MAP=/tmp/korea_map.tif \
        xvfb-run -a -s "-screen 0 1600x1000x24" qgis --nologo --noversioncheck --code docs/qgis_screenshots.py

with the plugin installed and enabled in that profile (`geotrans qgis install`, then
`env -i PATH=/usr/bin:/bin HOME=$HOME QT_QPA_PLATFORM=offscreen qgis_process.bin plugins enable
geotrans_processing`; Debian's `qgis_process` wrapper refuses its own `--noversioncheck`, and QGIS's
Python needs the clean environment). It opens the scene and its map,
grabs the main window with the Processing Toolbox, then the "Translate scene to map" dialog, writes
docs/qgis_layer.png (the README shows it as a 1200 px JPEG) and docs/qgis_dialog.png, and quits QGIS.
"""
import os
from pathlib import Path

from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QDockWidget, QLineEdit
from qgis.utils import iface

DOCS = Path(os.environ.get("GEOTRANS_SHOT_DOCS", "docs")).resolve()
SCENE = Path(os.environ.get("GEOTRANS_SHOT_SCENE", "sample_tiles/korea_rgb_jpeg_3857.tif")).resolve()
MAP = Path(os.environ["GEOTRANS_SHOT_MAP"]).resolve()
DOCS.mkdir(parents=True, exist_ok=True)  # QWidget.grab().save() fails silently into a missing folder


def show_layers():
    scene = QgsRasterLayer(str(SCENE), SCENE.stem)
    translated = QgsRasterLayer(str(MAP), MAP.stem)
    QgsProject.instance().addMapLayer(scene)
    QgsProject.instance().addMapLayer(translated)
    iface.mapCanvas().setExtent(translated.extent())
    iface.mapCanvas().refresh()
    for dock in iface.mainWindow().findChildren(QDockWidget):
        if dock.objectName() == "Browser":
            dock.hide()
        if dock.objectName() == "ProcessingToolbox":
            dock.show()
            dock.findChild(QLineEdit).setText("geotrans")
    QTimer.singleShot(4000, grab_window)


def grab_window():
    iface.mainWindow().grab().save(str(DOCS / "qgis_layer.png"))
    import processing

    dialog = processing.createAlgorithmDialog("geotrans:translate_scene", {"INPUT": str(SCENE)})
    dialog.show()
    dialog.resize(1100, 700)
    QTimer.singleShot(2000, lambda: grab_dialog(dialog))


def grab_dialog(dialog):
    dialog.grab().save(str(DOCS / "qgis_dialog.png"))
    dialog.close()
    QgsProject.instance().setDirty(False)
    os._exit(0)  # QGIS's own exit waits on dialogs a headless X server never answers


iface.mainWindow().resize(1500, 900)
QTimer.singleShot(3000, show_layers)
