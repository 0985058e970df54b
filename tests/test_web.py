"""geotrans web: tiles where GDAL puts the map, a site that never takes a user's folder, and a viewer that a
real browser opens from file:// showing the map's own pixels where they lie, and the scene under the swipe."""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import ATLANTA, KOREA, LANDSAT, VEGAS, assert_one_line_error, qgis_environment, qgis_python, run_cli
from PIL import Image
from rasterio.warp import Resampling, reproject

pytest.importorskip("rio_tiler")

from geotrans.web.serve import address, site_server, xyz_templates  # noqa: E402
from geotrans.web.site import MARKER, SiteEntry, write_site  # noqa: E402
from geotrans.web.tiles import Pyramid, pyramid_of, write_tiles  # noqa: E402

HALF = 20037508.342789244  # half the Web Mercator world's width, metres


def tile_bounds(x: int, y: int, z: int) -> tuple[float, float, float, float]:
    """A Web Mercator tile's (left, bottom, right, top) in metres, by the XYZ scheme's definition (no library)."""
    size = 2 * HALF / 2**z
    return -HALF + x * size, HALF - (y + 1) * size, -HALF + (x + 1) * size, HALF - y * size


def gdal_tile(path: Path, x: int, y: int, z: int) -> tuple[np.ndarray, np.ndarray]:
    """The tile as GDAL warps it (nearest), from the overview GDAL reads for the tile's resolution (the largest
    no coarser than it, as rio-tiler's reads get): RGB (3, 256, 256) and its valid pixels."""
    left, bottom, right, top = tile_bounds(x, y, z)
    transform = rasterio.transform.from_bounds(left, bottom, right, top, 256, 256)
    with rasterio.open(path) as ds:
        factor = (right - left) / 256 / ds.res[0] if ds.crs.to_epsg() == 3857 else 1.0
        levels = [i for i, f in enumerate(ds.overviews(1)) if f <= factor * 1.001]
        valid = np.zeros((256, 256), np.uint8)
        reproject(ds.dataset_mask(), valid, src_transform=ds.transform, src_crs=ds.crs, dst_transform=transform,
                  dst_crs="EPSG:3857", resampling=Resampling.nearest)
    with rasterio.open(path, **({"overview_level": levels[-1]} if levels else {})) as ds:
        rgb = np.zeros((3, 256, 256), np.uint8)
        reproject(ds.read([1, 2, 3]), rgb, src_transform=ds.transform, src_crs=ds.crs, dst_transform=transform,
                  dst_crs="EPSG:3857", resampling=Resampling.nearest)
    return rgb, valid > 0


@pytest.mark.parametrize("scene", [KOREA, VEGAS, LANDSAT], ids=["3857", "4326", "utm"])
def test_each_tile_holds_what_gdal_warps_to_that_tile(tmp_path, scene):
    pyramid = pyramid_of(scene)
    assert pyramid.maxzoom - pyramid.minzoom >= 2
    tms = __import__("morecantile").tms.get("WebMercatorQuad")
    for zoom in (pyramid.minzoom, pyramid.maxzoom):  # our ranges are morecantile's tiles
        assert {(x, y) for x, y, z in pyramid.tiles() if z == zoom} == \
            {(t.x, t.y) for t in tms.tiles(*pyramid.bounds, zooms=[zoom])}
    zooms = Pyramid(pyramid.maxzoom - 2, pyramid.maxzoom, pyramid.bounds)
    assert write_tiles(scene, tmp_path, zooms) > 0
    compared = 0
    for png in sorted(tmp_path.rglob("*.png")):
        z, x, y = int(png.parent.parent.name), int(png.parent.name), int(png.stem)
        tile = np.asarray(Image.open(png).convert("RGBA"))
        ours, ours_valid = tile[..., :3].transpose(2, 0, 1), tile[..., 3] > 0
        rgb, valid = gdal_tile(scene, x, y, z)
        both = ours_valid & valid
        assert (ours_valid != valid).mean() < 0.02, png  # the data's edge within a pixel
        if both.sum() > 1000:
            difference = np.abs(ours.astype(int) - rgb.astype(int))[:, both].mean()
            assert difference < 3.0, (png, difference)
            compared += 1
    assert compared >= 3


def test_the_pyramid_runs_from_the_native_zoom_to_the_whole_scene_in_a_tile():
    korea = pyramid_of(KOREA)  # 1024 px of 0.597 m: zoom 18's pixels; the whole in one 256 px tile at 16
    assert (korea.minzoom, korea.maxzoom) == (16, 18)
    assert pyramid_of(KOREA, maxzoom=17).maxzoom == 17


def test_the_site_shows_each_map_over_its_scene_and_replaces_only_its_own_site(tmp_path):
    inverted = _inverted(KOREA, tmp_path / "inverted.tif")
    site = tmp_path / "site"
    folder = write_site([SiteEntry(str(inverted), str(KOREA))], site)
    assert folder == site and (site / "index.html").is_file() and (site / "static" / "leaflet.js").is_file()
    assert "BSD" in (site / "static" / "LICENSE-leaflet.txt").read_text()
    data = (site / MARKER).read_text()
    assert '"name": "inverted"' in data and (site / "inverted" / "scene" / "16").is_dir()
    import xml.etree.ElementTree as ElementTree

    layers = ElementTree.parse(site / "qgis-xyz-connections.xml").getroot()
    assert layers.tag == "qgsXYZTilesConnections" and len(layers) == 2
    for layer in layers:  # each URL template names tiles that are there
        tile = next(t for t in (site / "inverted" / layer.get("name").rsplit(": ", 1)[1]).rglob("*.png"))
        z, x, y = tile.parent.parent.name, tile.parent.name, tile.stem
        assert layer.get("url").replace("{z}", z).replace("{x}", x).replace("{y}", y) == tile.resolve().as_uri()
        assert (layer.get("zmin"), layer.get("zmax")) == ("16", "18")
    again = write_site([SiteEntry(str(inverted))], site)  # a site geotrans wrote is replaced, whole
    assert again == site and not (site / "inverted" / "scene").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # nothing left beside it


def test_a_folder_of_the_user_s_files_a_map_that_is_not_rgb_and_too_many_tiles_are_one_line(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    result = run_cli("web", str(KOREA), "--out", str(mine))
    assert_one_line_error(result, "holds files geotrans did not write")
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    result = run_cli("web", str(ATLANTA), "--out", str(tmp_path / "pan"))
    assert_one_line_error(result, "is not an RGB map (1 band(s) of uint16)")
    result = run_cli("web", str(LANDSAT), "--out", str(tmp_path / "deep"), "--max-zoom", "24")
    assert_one_line_error(result, "more than 10,000,000")
    nowhere = tmp_path / "nowhere.tif"
    with rasterio.open(KOREA) as ds:
        profile = {**ds.profile, "driver": "GTiff", "crs": None, "transform": rasterio.Affine.identity()}
        profile.pop("jpeg_quality", None)
        with rasterio.open(nowhere, "w", **profile) as out:
            out.write(ds.read())
    result = run_cli("web", str(nowhere), "--out", str(tmp_path / "nowhere"))
    assert_one_line_error(result, "has no georeferencing (no CRS)")
    result = run_cli("web", str(KOREA), "--out", str(tmp_path / "in"), "--scene", str(KOREA), "--scene", str(VEGAS))
    assert result.exit_code == 2 and "once per map" in result.output
    assert not any((tmp_path / name).exists() for name in ("pan", "deep", "in", "nowhere"))
    plain = tmp_path / "plain"
    result = run_cli("web", str(KOREA), "--out", str(plain))  # not a map geotrans wrote: works, with a warning
    assert result.exit_code == 0 and "not a map geotrans wrote" in result.output
    assert (plain / "index.html").is_file()


def test_run_with_web_writes_the_map_and_its_site(tmp_path, narrow_model_file):
    out, site = tmp_path / "map.tif", tmp_path / "site"
    result = run_cli("run", str(VEGAS), "--out", str(out), "--web", str(site), "--model", str(narrow_model_file))
    assert result.exit_code == 0, result.output
    assert out.is_file() and (site / "index.html").is_file()
    assert any((site / "map" / "map").rglob("*.png")) and any((site / "map" / "scene").rglob("*.png"))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


NEEDS_CHROMIUM = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                   reason="no chromium here (CI installs it)")


@pytest.mark.slow
@NEEDS_CHROMIUM
def test_a_browser_opens_the_site_from_file_and_shows_the_map_s_pixels_where_they_lie(tmp_path):
    inverted = _inverted(KOREA, tmp_path / "inverted.tif")
    site = write_site([SiteEntry(str(inverted), str(KOREA))], tmp_path / "site")
    _assert_the_browser_shows_map_and_scene(f"file://{site}/index.html", inverted, tmp_path)


@pytest.mark.slow
@NEEDS_CHROMIUM
def test_a_browser_reads_a_pmtiles_site_from_the_server_and_is_told_to_serve_it_from_file(tmp_path):
    inverted = _inverted(KOREA, tmp_path / "inverted.tif")
    site = write_site([SiteEntry(str(inverted), str(KOREA))], tmp_path / "site", tile_format="pmtiles")
    assert not list((site / "inverted").rglob("*.png")) and (site / "inverted" / "map.pmtiles").is_file()
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=4000",
                          "--dump-dom", f"file://{site}/index.html"], capture_output=True, text=True, timeout=120)
    assert 'id="serve-note" class="warning" style="display: block;"' in dom.stdout  # file:// reads no ranges
    with serving(site) as server:
        _assert_the_browser_shows_map_and_scene(address(server, "index.html"), inverted, tmp_path)


def _assert_the_browser_shows_map_and_scene(page: str, inverted: Path, tmp_path: Path) -> None:
    """Headless Chromium shows ``page`` at Korea's centre: the map's own pixels with the swipe at the left
    edge, the scene's with it at the right."""
    with rasterio.open(KOREA) as ds:
        centre_x, centre_y = (ds.bounds.left + ds.bounds.right) / 2, (ds.bounds.bottom + ds.bounds.top) / 2
    lon = math.degrees(centre_x / 6378137.0)
    lat = math.degrees(2 * math.atan(math.exp(centre_y / 6378137.0)) - math.pi / 2)
    shown = {}
    for at in (0, 100):  # the swipe at the left edge shows the map; at the right edge, the scene
        shot = tmp_path / f"at{at}.png"
        url = f"{page}#map=0&z=18&lat={lat}&lon={lon}&mode=swipe&at={at}"
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1200,800", "--virtual-time-budget=8000", f"--screenshot={shot}", url],
                       capture_output=True, timeout=120, check=True)
        shown[at] = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    # The map's container: x 300-1200 (the panel is 300 px), y 0-800; at zoom 18 one screen pixel is one
    # Web Mercator pixel of 0.597 m, Korea's own, centred on the scene's centre.
    metres = 2 * HALF / 256 / 2**18
    points = [(sx, sy) for sx in range(420, 1100, 37) for sy in range(150, 650, 37)]
    for at, raster in ((0, inverted), (100, KOREA)):
        with rasterio.open(raster) as ds:
            best = min(_difference(shown[at], ds, points, centre_x, centre_y, metres, dx, dy)
                       for dx in (-1, 0, 1) for dy in (-1, 0, 1))
        assert best < 12, (at, best)  # the tiles' own PNG pixels, through the browser's compositing
    assert np.abs(shown[0][150:650, 420:1100] - shown[100][150:650, 420:1100]).mean() > 40  # the swipe moved


def _difference(shot, ds, points, centre_x, centre_y, metres, dx, dy) -> float:
    coords = [(centre_x + (sx + dx + 0.5 - 750) * metres, centre_y - (sy + dy + 0.5 - 400) * metres)
              for sx, sy in points]
    expected = np.array(list(ds.sample(coords, indexes=[1, 2, 3])))
    seen = np.array([shot[sy, sx] for sx, sy in points])
    return float(np.abs(seen - expected).mean())


def _inverted(scene: Path, out: Path) -> Path:
    """The scene with its colours inverted, as a stand-in map that differs from it everywhere."""
    with rasterio.open(scene) as ds:
        profile = {**ds.profile, "driver": "GTiff", "compress": "deflate", "photometric": "RGB"}
        profile.pop("jpeg_quality", None)
        rgb = 255 - ds.read([1, 2, 3])
    with rasterio.open(out, "w", **{**profile, "count": 3}) as dst:
        dst.write(rgb)
    return out


def test_tiles_are_png_with_transparency_outside_the_data(tmp_path):
    pyramid = pyramid_of(LANDSAT)  # a nodata border
    top = Pyramid(pyramid.minzoom, pyramid.minzoom, pyramid.bounds)
    write_tiles(LANDSAT, tmp_path, top)
    images = [Image.open(io.BytesIO(png.read_bytes())) for png in tmp_path.rglob("*.png")]
    assert images and all(image.format == "PNG" and image.mode == "RGBA" for image in images)
    alpha = np.concatenate([np.asarray(image)[..., 3].ravel() for image in images])
    assert 0 < (alpha > 0).mean() < 1


@pytest.mark.slow
def test_qgis_opens_the_site_s_layers_from_its_connections_file(tmp_path):
    pyqgis = qgis_python()
    if pyqgis is None and not os.environ.get("CI"):
        pytest.skip("no PyQGIS here (CI installs it)")
    import xml.etree.ElementTree as ElementTree

    site = write_site([SiteEntry(str(KOREA), str(KOREA))], tmp_path / "site")
    [layer, _] = ElementTree.parse(site / "qgis-xyz-connections.xml").getroot()
    with rasterio.open(KOREA) as ds:  # a 64 px square at the scene's centre, on its own pixel grid
        col, row = ds.width // 2, ds.height // 2
        window = rasterio.windows.Window(col - 32, row - 32, 64, 64)
        left, bottom, right, top = rasterio.windows.bounds(window, ds.transform)
        expected = ds.read(1, window=window).astype(float)
    uri = f"type=xyz&url={layer.get('url')}&zmin={layer.get('zmin')}&zmax={layer.get('zmax')}"
    script = ("import os; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
              "from qgis.core import QgsApplication, QgsRasterLayer, QgsRectangle\n"
              "app = QgsApplication([], False); app.initQgis()\n"
              f"layer = QgsRasterLayer({uri!r}, 'map', 'wms')\n"
              "print(layer.isValid(), layer.crs().authid())\n"
              f"block = layer.dataProvider().block(1, QgsRectangle({left}, {bottom}, {right}, {top}), 64, 64)\n"
              "print(' '.join(str((block.color(r, c) >> 16) & 255) for r in range(64) for c in range(64)))\n")
    out = subprocess.run([pyqgis, "-c", script], capture_output=True, text=True, timeout=300,
                         env=qgis_environment(tmp_path / "home"), cwd="/")
    assert out.stdout.split()[:2] == ["True", "EPSG:3857"], out.stdout + out.stderr[-2000:]
    red = np.array([int(v) for v in out.stdout.split()[2:]], float).reshape(64, 64)  # the tiles' red, via QGIS
    assert np.abs(red - expected).mean() < 3, np.abs(red - expected).mean()


def test_a_folder_run_with_web_puts_every_finished_map_on_one_site(tmp_path, narrow_model_file):
    scenes = tmp_path / "scenes"
    (scenes / "east").mkdir(parents=True)
    shutil.copy(VEGAS, scenes / "vegas.tif")
    shutil.copy(KOREA, scenes / "east" / "korea.tif")
    site = tmp_path / "site"
    result = run_cli("run", str(scenes), "--out", str(tmp_path / "maps"), "--recursive", "--web", str(site),
                     "--model", str(narrow_model_file))
    assert result.exit_code == 0, result.output
    import json

    listed = json.loads((site / MARKER).read_text())["maps"]
    assert sorted(m["name"] for m in listed) == ["east/korea", "vegas"]
    for entry in listed:  # each map over its own scene
        assert entry["tiles"]["map"] > 0 and entry["tiles"]["scene"] == entry["tiles"]["map"]
        assert any((site / entry["folder"] / "scene").rglob("*.png"))



def test_without_the_web_extras_run_web_is_one_line_before_the_model_loads(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "rio_tiler.io", None)  # as if rio-tiler were not installed
    for args in (["web", str(KOREA), "--out", str(tmp_path / "site")],
                 ["run", str(KOREA), "--out", str(tmp_path / "map.tif"), "--web", str(tmp_path / "site")]):
        result = run_cli(*args)
        assert_one_line_error(result, "web tiles need rio-tiler, morecantile and pmtiles")
        assert "pip install '.[web]' in the clone" in result.output
    assert not (tmp_path / "map.tif").exists() and not (tmp_path / "site").exists()


@contextlib.contextmanager
def serving(site: Path):
    """The site served on a free port, in a thread, for the length of the block."""
    server = site_server(site, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str, **headers) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _archive_tiles(archive: Path) -> dict:
    from pmtiles.reader import MmapSource, all_tiles

    with open(archive, "rb") as f:
        return {zxy: bytes(data) for zxy, data in all_tiles(MmapSource(f))}


def test_a_pmtiles_site_holds_the_xyz_site_s_tiles_one_archive_a_layer(tmp_path):
    xyz = write_site([SiteEntry(str(LANDSAT), str(LANDSAT))], tmp_path / "xyz")
    archived = write_site([SiteEntry(str(LANDSAT), str(LANDSAT))], tmp_path / "pm", tile_format="pmtiles")
    from pmtiles.reader import MmapSource, Reader

    data = json.loads((archived / MARKER).read_text())
    [entry] = data["maps"]
    assert data["format"] == entry["format"] == "pmtiles"
    assert not (archived / "qgis-xyz-connections.xml").exists()  # QGIS 3.22 reads PMTiles through the server
    for kind in ("map", "scene"):
        folder = {(int(p.parent.parent.name), int(p.parent.name), int(p.stem)): p.read_bytes()
                  for p in (xyz / "landsat_rgb_nodata_utm" / kind).rglob("*.png")}
        archive = archived / "landsat_rgb_nodata_utm" / f"{kind}.pmtiles"
        assert _archive_tiles(archive) == folder and len(folder) == entry["tiles"][kind] > 20
        with open(archive, "rb") as f:
            header = Reader(MmapSource(f)).header()
        assert header["clustered"] and header["tile_type"].name == "PNG"
        assert (header["min_zoom"], header["max_zoom"]) == (entry["minzoom"], entry["maxzoom"])
        west, south, east, north = entry["bounds"]
        assert abs(header["min_lon_e7"] / 1e7 - west) < 1e-6 and abs(header["max_lat_e7"] / 1e7 - north) < 1e-6
    assert (archived / "static" / "pmtiles.js").is_file()
    assert "BSD" in (archived / "static" / "LICENSE-pmtiles.txt").read_text()


def test_the_server_answers_byte_ranges_archive_tiles_and_qgis_with_its_own_address(tmp_path):
    site = write_site([SiteEntry(str(KOREA), str(KOREA))], tmp_path / "site", tile_format="pmtiles")
    archive = site / "korea_rgb_jpeg_3857" / "scene.pmtiles"
    whole = archive.read_bytes()
    tiles = _archive_tiles(archive)
    with serving(site) as server:
        url = address(server, "korea_rgb_jpeg_3857/scene.pmtiles")
        assert url.startswith("http://127.0.0.1:")
        status, headers, body = _get(url, Range="bytes=0-126")  # PMTiles's header, as pmtiles.js reads it
        assert (status, body, headers["Content-Range"]) == (206, whole[:127], f"bytes 0-126/{len(whole)}")
        status, _, body = _get(url, Range="bytes=1000-")
        assert (status, body) == (206, whole[1000:])
        status, _, body = _get(url, Range="bytes=-10")
        assert (status, body) == (206, whole[-10:])
        status, headers, _ = _get(url, Range=f"bytes={len(whole)}-")
        assert (status, headers["Content-Range"]) == (416, f"bytes */{len(whole)}")
        status, headers, body = _get(url)
        assert (status, body, headers["Accept-Ranges"]) == (200, whole, "bytes")
        (z, x, y), png = next(iter(tiles.items()))
        status, headers, body = _get(address(server, f"korea_rgb_jpeg_3857/scene/{z}/{x}/{y}.png"))
        assert (status, headers["Content-Type"], body) == (200, "image/png", png)
        assert _get(address(server, f"korea_rgb_jpeg_3857/scene/{z}/{x + 50}/{y}.png"))[0] == 404  # no data
        assert _get(address(server, "..%2f..%2fetc%2fpasswd"))[0] == 404  # only the site's folder
        import xml.etree.ElementTree as ElementTree

        status, _, body = _get(address(server, "qgis-xyz-connections.xml"))
        layers = ElementTree.fromstring(body)
        templates = dict(xyz_templates(server))
        assert status == 200 and {layer.get("url") for layer in layers} == set(templates.values())
        for template in templates.values():  # each names tiles the server gives
            tile = template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
            assert _get(tile)[0] == 200


def test_the_viewer_s_figures_are_the_map_s_class_shares_and_the_scene_as_read(tmp_path):
    out = tmp_path / "map.tif"
    assert run_cli("run", str(VEGAS), "--out", str(out)).exit_code == 0  # the shipped model: class colours
    site = write_site([SiteEntry(str(out), str(VEGAS))], tmp_path / "site")
    [entry] = json.loads((site / MARKER).read_text())["maps"]
    shares = {item["name"]: item["share"] for item in entry["legend"]}
    assert abs(sum(shares.values()) - 1) < 1e-6
    from geotrans.model.style import MapStyle

    with rasterio.open(out) as ds:  # every pixel classed, against the site's decimated count
        style = MapStyle.from_card({"map_classes": json.loads(ds.tags()["GEOTRANS_MAP_CLASSES"])})
        classes, valid = style.classify(ds.read([1, 2, 3])), ds.read_masks(1) > 0
    for code, name in enumerate(style.colours):
        assert abs(shares[name.replace("_", " ")] - (classes[valid] == code).mean()) < 0.02, name
    assert entry["scene_facts"]["size_px"] == [640, 480]  # Vegas: 0.27 m pixels in degrees, R, G, B (+ alpha)
    assert 0.25 < entry["scene_facts"]["ground_m"] < 0.29 and entry["scene_facts"]["bands"] == "bands 1,2,3"


def test_serve_serves_a_site_until_stopped_and_refuses_a_folder_that_is_not_one(tmp_path):
    result = run_cli("web", "--serve", "--out", str(tmp_path))
    assert_one_line_error(result, "is not a site geotrans wrote")
    result = run_cli("web", "--out", str(tmp_path / "site"))
    assert result.exit_code == 2 and "or --serve" in result.output
    site = write_site([SiteEntry(str(KOREA))], tmp_path / "site", tile_format="pmtiles")
    with serving(site) as busy:  # a port that is taken: one line
        result = run_cli("web", "--serve", "--out", str(site), "--port", str(busy.server_address[1]))
        assert_one_line_error(result, f"port {busy.server_address[1]}: cannot serve there", "another --port")
    process = subprocess.Popen([sys.executable, "-m", "geotrans", "web", "--serve", "--out", str(site), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith(f"serving {site} at http://127.0.0.1:"), first
        page = first.split(" at ")[1].split()[0]
        assert page.endswith("/index.html") and b"geotrans maps" in _get(page)[2]
        assert "QGIS XYZ layer korea_rgb_jpeg_3857: map: http://127.0.0.1:" in process.stdout.readline()
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "stopped serving" in err and "Traceback" not in err
