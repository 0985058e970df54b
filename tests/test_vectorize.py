"""geotrans vectorize: a map's classes as polygons and road centre lines, in strips, into a GeoPackage.

Most tests vectorize real maps: the shipped model's maps of the Korea and Vegas samples. One test paints a
class raster of known shapes (a crossroads, a lake with an island), because topology (four lines meeting at one
junction, a spur pruned, a hole kept) needs a map whose right answer is known exactly.
"""
import json
import os

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from helpers import KOREA, VEGAS, assert_one_line_error, run_cli, run_scene
from rasterio.features import rasterize
from scipy.ndimage import binary_dilation

from geotrans.model.style import CODES, MapStyle
from geotrans.model.weights import load_generator, read_model_info
from geotrans.vectors.vectorize import (
    LAYERS,
    POLYGON_LAYERS,
    ROAD_CLASSES,
    VectorOptions,
    open_map,
    read_classes,
    vectorize,
    vectorize_map,
    write_features,
)


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    """The shipped model's maps of two real samples, as `geotrans run` writes them."""
    folder = tmp_path_factory.mktemp("maps")
    generator, info = load_generator()
    made = {}
    for name, scene in (("korea", KOREA), ("vegas", VEGAS)):
        run_scene(scene, folder / f"{name}.tif", generator, model_info=info)
        made[name] = folder / f"{name}.tif"
    return made


def classes_of(path):
    with rasterio.open(path) as ds:
        classes, valid = read_classes(ds, open_map(path).style, 0, ds.height)
        return classes, valid, ds.transform


def iou(a, b):
    return (a & b).sum() / max(1, (a | b).sum())


@pytest.mark.parametrize("name", ["korea", "vegas"])
def test_polygons_rasterised_back_are_the_map_s_class_pixels_holes_included(maps, name):
    classes, valid, transform = classes_of(maps[name])
    features = vectorize(maps[name], options=VectorOptions(min_area_m2=0))
    holes = 0
    for layer, map_class in POLYGON_LAYERS.items():
        truth = (classes == CODES[map_class]) & valid
        geometries = [g for g, _ in features.polygons[layer]]
        if not truth.any():
            assert not geometries
            continue
        drawn = rasterize(geometries, out_shape=truth.shape, transform=transform).astype(bool)
        assert iou(truth, drawn) >= 0.98, (layer, iou(truth, drawn))
        with_holes = [p for g in geometries for p in shapely.get_parts(g) if len(p.interiors)]
        holes += len(with_holes)
        if with_holes:  # the holes matter: filled in, the polygons cover pixels of other classes
            filled = rasterize([shapely.Polygon(p.exterior) for p in with_holes], out_shape=truth.shape,
                               transform=transform).astype(bool)
            assert (filled & ~truth).any()
    assert holes > 0


def test_the_minimum_area_drops_small_polygons_only(maps):
    every = vectorize(maps["korea"], options=VectorOptions(min_area_m2=0))
    default = vectorize(maps["korea"])
    large = vectorize(maps["korea"], options=VectorOptions(min_area_m2=500))
    for layer in POLYGON_LAYERS:
        assert len(every.polygons[layer]) >= len(default.polygons[layer]) >= len(large.polygons[layer])
        assert all(area >= 500 for _, area in large.polygons[layer])
        assert all(area >= 20 for _, area in default.polygons[layer])
    assert sum(map(len, every.polygons.values())) > sum(map(len, default.polygons.values()))


@pytest.mark.parametrize("name", ["korea", "vegas"])
def test_road_lines_lie_on_road_pixels_with_their_class_width_and_length(maps, name):
    classes, valid, transform = classes_of(maps[name])
    road = binary_dilation(np.isin(classes, [CODES[c] for c in ROAD_CLASSES]))  # within a pixel
    features = vectorize(maps[name])
    assert len(features.roads) >= 5
    inverse, on, total = ~transform, 0, 0
    for line, road_class, width_m, length_m in features.roads:
        assert road_class in ROAD_CLASSES and width_m > 0 and length_m > 0
        for d in np.linspace(0, line.length, 20):
            col, row = inverse * shapely.get_coordinates(line.interpolate(d))[0]
            on += road[int(row), int(col)]
            total += 1
    assert on / total >= 0.97


@pytest.mark.parametrize("name", ["korea", "vegas"])
def test_a_map_vectorized_in_strips_gives_the_features_of_one_piece(maps, name):
    whole = vectorize(maps[name], options=VectorOptions(strip_rows=100_000))
    strips = vectorize(maps[name], options=VectorOptions(strip_rows=128, halo=96))
    assert strips.counts() == whole.counts()
    for layer in POLYGON_LAYERS:
        a = shapely.union_all([g for g, _ in whole.polygons[layer]])
        b = shapely.union_all([g for g, _ in strips.polygons[layer]])
        assert shapely.symmetric_difference(a, b).area <= 0.002 * max(a.area, 1e-12), layer
    a = shapely.union_all([g for g, *_ in whole.roads])
    b = shapely.union_all([g for g, *_ in strips.roads])
    pixel = abs(open_map(maps[name]).transform.a)
    assert shapely.hausdorff_distance(a, b) <= pixel
    assert sum(r[3] for r in strips.roads) == pytest.approx(sum(r[3] for r in whole.roads), rel=0.002)


def painted_map(path, classes, pixel_m=1.0):
    """A map (UTM, ``pixel_m`` pixels) painted in the shipped style from a class raster, tagged as geotrans tags."""
    card = read_model_info().card
    style = MapStyle.from_card(card)
    with rasterio.open(path, "w", driver="GTiff", width=classes.shape[1], height=classes.shape[0], count=3,
                       dtype="uint8", crs="EPSG:32633", transform=Affine(pixel_m, 0, 500_000, 0, -pixel_m, 5_000_000)) as ds:
        ds.write(style.paint(classes))
        ds.update_tags(GEOTRANS_MODEL=card["name"], GEOTRANS_MAP_CLASSES=json.dumps(card["map_classes"]))
    return path


@pytest.mark.parametrize("pixel_m", [1.0, 0.5])
def test_a_crossroads_is_four_lines_meeting_at_one_junction_and_a_lake_keeps_its_island(tmp_path, pixel_m):
    n = round(200 / pixel_m)
    centre, half = n // 2, round(5 / pixel_m)  # roads 11 m wide (10 m plus a pixel)
    classes = np.full((n, n), CODES["background"], np.uint8)
    classes[centre - half:centre + half + 1, :] = CODES["street"]
    classes[:, centre - half:centre + half + 1] = CODES["street"]
    bump = round(3 / pixel_m)  # a 3 m bulge on a road's edge: its skeleton's branch is a spur, pruned
    classes[centre + half:centre + half + bump, round(40 / pixel_m):round(44 / pixel_m)] = CODES["street"]
    lake = (slice(round(130 / pixel_m), round(190 / pixel_m)), slice(round(10 / pixel_m), round(70 / pixel_m)))
    classes[lake] = CODES["water"]
    classes[round(150 / pixel_m):round(170 / pixel_m), round(30 / pixel_m):round(50 / pixel_m)] = CODES["green"]
    features = vectorize(painted_map(tmp_path / "map.tif", classes, pixel_m))

    assert len(features.roads) == 4
    junction = shapely.Point(500_000 + (centre + 0.5) * pixel_m, 5_000_000 - (centre + 0.5) * pixel_m)
    for line, road_class, width_m, length_m in features.roads:
        ends = shapely.get_coordinates(line)[[0, -1]]
        assert min(junction.distance(shapely.Point(p)) for p in ends) <= 3 * pixel_m + 1
        assert road_class == "street" and width_m == pytest.approx(11, abs=2)
        assert length_m == pytest.approx(100, abs=8)
    (water, area), = features.polygons["water"]
    assert len(water.interiors) == 1 and area == pytest.approx(60 * 60 - 20 * 20, rel=0.02)
    (island, island_area), = features.polygons["green"]
    assert island_area == pytest.approx(400, rel=0.02) and not features.polygons["buildings"]


def test_the_geopackage_holds_the_four_layers_in_the_map_s_crs_named_for_the_model(maps, tmp_path):
    out = vectorize_map(maps["korea"], tmp_path / "features.gpkg")
    assert sorted(name for name, _ in pyogrio.list_layers(tmp_path / "features.gpkg")) == sorted(LAYERS)
    with rasterio.open(maps["korea"]) as ds:
        crs, model = ds.crs, ds.tags()["GEOTRANS_MODEL"]
    for layer in LAYERS:
        info = pyogrio.read_info(tmp_path / "features.gpkg", layer=layer)
        assert rasterio.crs.CRS.from_user_input(info["crs"]) == crs
        assert info["layer_metadata"]["geotrans_model"] == model
        assert info["geometry_type"] == ("LineString" if layer == "roads" else "MultiPolygon")
        assert list(info["fields"]) == (["class", "width_m", "length_m"] if layer == "roads" else ["area_m2"])
        assert info["features"] == out.counts()[layer]


def test_cli_vectorize_and_its_bad_inputs(maps, tmp_path):
    out = tmp_path / "f.gpkg"
    result = run_cli("vectorize", maps["vegas"], "--out", out)
    assert result.exit_code == 0, result.output
    assert "roads" in result.output and out.exists()
    before = out.read_bytes()
    assert_one_line_error(run_cli("vectorize", maps["vegas"], "--out", out), "already exists", "--overwrite")
    assert out.read_bytes() == before
    assert run_cli("vectorize", maps["vegas"], "--out", out, "--overwrite").exit_code == 0
    assert_one_line_error(run_cli("vectorize", KOREA, "--out", tmp_path / "s.gpkg"), "not a geotrans map")
    assert_one_line_error(run_cli("vectorize", tmp_path / "nope.tif", "--out", tmp_path / "n.gpkg"), "no such file")
    assert_one_line_error(run_cli("vectorize", maps["vegas"], "--out", maps["vegas"], "--overwrite"), "input")
    not_tiff = tmp_path / "notes.tif"
    not_tiff.write_text("not a raster")
    assert_one_line_error(run_cli("vectorize", not_tiff, "--out", tmp_path / "x.gpkg"), "not a readable map")
    with_model = run_cli("vectorize", KOREA, "--out", tmp_path / "k.gpkg", "--model",
                         "geotrans/default_model/generator.safetensors")  # a scene read as if it were a map
    assert with_model.exit_code == 0, with_model.output
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_vectorize_never_writes_over_the_model_it_reads_or_its_card(maps, tmp_path):
    import hashlib
    import shutil

    model = tmp_path / "m.safetensors"
    shutil.copy("geotrans/default_model/generator.safetensors", model)
    shutil.copy("geotrans/default_model/generator.json", tmp_path / "m.json")
    before = {p: hashlib.md5(p.read_bytes()).hexdigest() for p in (model, tmp_path / "m.json")}
    for target in (model, tmp_path / "m.json"):
        result = run_cli("vectorize", maps["vegas"], "--out", target, "--model", model, "--overwrite")
        assert_one_line_error(result, "input")
    assert {p: hashlib.md5(p.read_bytes()).hexdigest() for p in (model, tmp_path / "m.json")} == before


def test_a_failed_write_leaves_nothing_at_the_output(maps, tmp_path, monkeypatch):
    features = vectorize(maps["vegas"])
    calls = []
    real = pyogrio.raw.write

    def full_disk(*args, **kwargs):
        calls.append(kwargs["layer"])
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(pyogrio.raw, "write", full_disk)
    with pytest.raises(OSError):
        write_features(features, tmp_path / "f.gpkg")
    assert os.listdir(tmp_path) == []


def test_run_vectors_writes_the_features_beside_the_map_and_folders_one_per_map(tmp_path):
    result = run_cli("run", VEGAS, "--out", tmp_path / "m.tif", "--vectors", tmp_path / "m.gpkg", "-q")
    assert result.exit_code == 0, result.output
    assert pyogrio.read_info(tmp_path / "m.gpkg", layer="roads")["features"] > 0
    assert_one_line_error(run_cli("run", VEGAS, "--out", tmp_path / "n.tif", "--vectors", tmp_path / "m.gpkg"),
                          "already exists")
    assert not (tmp_path / "n.tif").exists()  # refused before anything ran

    scenes, maps_dir, vectors = tmp_path / "scenes", tmp_path / "maps", tmp_path / "vectors"
    scenes.mkdir()
    for name in ("a", "b"):
        (scenes / f"{name}.tif").write_bytes(VEGAS.read_bytes())
    first = run_cli("run", scenes, "--out", maps_dir, "--vectors", vectors, "-q")
    assert first.exit_code == 0, first.output
    assert "2 written, 0 current, 0 failed" in first.output
    assert sorted(os.listdir(vectors)) == ["a.gpkg", "b.gpkg"]
    (vectors / "b.gpkg").unlink()
    (vectors / "b.gpkg").write_text("the user's own file")
    again = run_cli("run", scenes, "--out", maps_dir, "--vectors", vectors, "-q")
    assert again.exit_code == 1 and "0 written, 1 current, 1 failed" in again.output
    assert (vectors / "b.gpkg").read_text() == "the user's own file"


def test_vectorize_reads_a_map_by_any_name_gdal_opens_and_refuses_a_name_gdal_cannot(maps, tmp_path):
    import zipfile

    archive = tmp_path / "maps.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(maps["vegas"], "vegas.tif")
    out = tmp_path / "z.gpkg"
    result = run_cli("vectorize", f"/vsizip/{archive}/vegas.tif", "--out", out)
    assert result.exit_code == 0, result.output
    assert set(pyogrio.list_layers(out)[:, 0]) >= {"roads", "water", "green", "buildings"}
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/m\xff.tif")
    os.symlink(maps["vegas"], odd)
    assert_one_line_error(run_cli("vectorize", odd, "--out", tmp_path / "o.gpkg"), "not UTF-8")
    assert not (tmp_path / "o.gpkg").exists()


def test_two_writers_of_one_geopackage_never_replace_each_other(maps, tmp_path, monkeypatch):
    """A second writer is refused while the first holds the output, and a file another run wrote while this one
    was working is checked again, under the lock, before the rename."""
    import geotrans.vectors.vectorize as module
    from geotrans.io.files import output_lock

    out = tmp_path / "f.gpkg"
    with output_lock(out):  # another run is writing it now
        assert_one_line_error(run_cli("vectorize", maps["vegas"], "--out", out), "f.gpkg")
    assert not out.exists()
    real = module.vectorize

    def meanwhile(*args, **kwargs):  # another run finishes the same GeoPackage while this one works
        features = real(*args, **kwargs)
        out.write_bytes(b"the other run's features")
        return features

    monkeypatch.setattr(module, "vectorize", meanwhile)
    assert_one_line_error(run_cli("vectorize", maps["vegas"], "--out", out), "already exists")
    assert out.read_bytes() == b"the other run's features"
