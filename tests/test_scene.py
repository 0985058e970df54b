"""Reading scenes: the one validity rule, the skip policy, and how often a source is opened."""
import collections
import os

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from helpers import KOREA, LANDSAT, ROTTERDAM, VEGAS, IdentityGenerator, run_scene, scene_box, write_aoi

from geotrans.cli import main
from geotrans.io.scene import SceneReader, inspect_scene, tile_reads, valid_pixels
from geotrans.model.weights import ModelInfo
from geotrans.run.options import RunOptions
from geotrans.run.plan import plan_run


def test_validity_is_the_mask_where_there_is_no_nan_or_aoi():
    scene = inspect_scene(LANDSAT)
    with rasterio.open(LANDSAT) as ds:
        window = rasterio.windows.Window(0, 0, ds.width, ds.height)
        np.testing.assert_array_equal(valid_pixels(ds, scene, window), ds.dataset_mask() > 0)


def nan_scene(tmp_path):
    """The real Rotterdam float64 crop with a block of NaN in it."""
    with rasterio.open(ROTTERDAM) as ds:
        profile, data = ds.profile, ds.read()
    data[:, 40:60, 100:130] = np.nan
    with rasterio.open(tmp_path / "nan.tif", "w", **profile) as out:
        out.write(data)
    return tmp_path / "nan.tif"


def test_nan_is_invalid_when_reading_and_when_warping_back(tmp_path):
    src = nan_scene(tmp_path)
    model = ModelInfo("m", "m", 8, "instance", "0" * 64, {"native_resolution_m": 0.8})  # Rotterdam is 1 m
    plan = plan_run(src, RunOptions(), model)
    assert plan.warp_back  # read resampled, written back on the scene's grid
    run_scene(src, tmp_path / "map.tif", IdentityGenerator(), model_info=model)
    with rasterio.open(tmp_path / "map.tif") as out:
        mask = out.dataset_mask()
    assert not mask[40:60, 100:130].any()
    assert mask[:30].all()


def test_tiles_outside_the_footprint_are_skipped_without_being_read(tmp_path):
    aoi = write_aoi(tmp_path / "aoi.geojson", scene_box(KOREA, 100, 150, 400, 380))
    plan = plan_run(KOREA, RunOptions(aoi=str(aoi)))
    scene = plan.scene
    reads = []

    class CountingReader:
        def read(self, tile):
            reads.append(tile)
            with SceneReader(scene, 256) as reader:
                return reader.read(tile)

    results = list(tile_reads(scene, plan.tiles, CountingReader()))
    skipped_unread = [t for t, r in results if r is None and t not in reads]
    assert len(results) == len(plan.tiles)
    assert len(skipped_unread) == 19 and all(not scene.touches(t) for t in skipped_unread)
    assert len(reads) == 6 and all(scene.touches(t) for t in reads)


def counting_opens():
    """(counts by absolute path, a stand-in for rasterio.open that counts)."""
    real = rasterio.open
    counts = collections.Counter()

    def counting(fp, *args, **kwargs):
        counts[os.path.abspath(str(fp))] += 1
        return real(fp, *args, **kwargs)

    return counts, counting


# A plain TIFF's files (geotrans.io.targets: no output may be one of them) are known from its first bytes and
# its name, without GDAL opening it; the plan's own list serves the map's checks after that. A VRT is opened
# to list its sources before the model loads.
@pytest.mark.parametrize("scene,extra,opens", [
    (KOREA, ["--gsd", "0.9"], 2),  # within 5% of the model: inspect, read
    (VEGAS, [], 3),  # resampled: inspect, read, warp back (the scene's own mask)
    (VEGAS, ["--preview", "{tmp}/p.png"], 4),  # and the preview's photo panel; never inspected twice
])
def test_a_run_opens_its_source_once_per_stage_and_the_model_file_once(tmp_path, monkeypatch, scene, extra, opens):
    from pathlib import Path

    from geotrans.model.weights import default_model_path

    counts, counting = counting_opens()
    monkeypatch.setattr(rasterio, "open", counting)
    model = tmp_path / "model.safetensors"  # a copy no earlier test has read in this process
    model.write_bytes(default_model_path().read_bytes())
    reads, read_bytes = [], Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: (reads.append(self) if self == model else None,
                                                          read_bytes(self))[1])
    args = ["run", str(scene), "--out", str(tmp_path / "o.tif"), "-q", "--model", str(model),
            *[a.format(tmp=tmp_path) for a in extra]]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert counts[os.path.abspath(scene)] == opens
    assert len(reads) == 1  # its card before the plan and its weights after: one read of the whole file
