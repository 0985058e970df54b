"""Huge plans are honest and quick (#42, part 6): windows are counted by arithmetic on the footprint, not one by
one, so `geotrans info` answers in seconds for a VRT declaring a million pixels a side, and `geotrans run`
refuses a plan beyond its limits unless told --yes, before the model loads."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import rasterio.shutil
import shapely
from helpers import KOREA, assert_one_line_error, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.affinity import rotate

from geotrans.io.scene import SceneInfo
from geotrans.io.tiler import TileGrid
from geotrans.run.plan import plan_run


def declared(tmp_path: Path, side: int) -> Path:
    """A VRT of the Korea sample that declares ``side`` x ``side`` pixels (the real pixels in one corner)."""
    small = tmp_path / "korea.vrt"
    rasterio.shutil.copy(KOREA, small, driver="VRT")
    huge = tmp_path / f"huge{side}.vrt"
    huge.write_text(re.sub(r'rasterXSize="\d+" rasterYSize="\d+"', f'rasterXSize="{side}" rasterYSize="{side}"',
                           small.read_text(), count=1))
    return huge


def test_info_on_a_million_pixels_a_side_answers_in_seconds_and_names_the_limit(tmp_path):
    started = time.perf_counter()
    result = run_cli("info", declared(tmp_path, 1_000_000), "--json")
    took = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert took < 60, took  # minutes before (windows counted one by one); seconds now, on a quiet machine < 5
    facts = __import__("json").loads(result.output)
    assert 0 < facts["windows"]["to_run"] < 100 and facts["windows"]["total"] > 7_000_000  # the 1024 px corner
    assert "over 1e+10 px" in facts["beyond_limits"]


def test_a_run_beyond_the_limits_is_one_line_before_the_model_loads(tmp_path, monkeypatch, narrow_model_file):
    import geotrans.model.weights

    monkeypatch.setattr(geotrans.model.weights, "load_generator",
                        lambda *a, **k: pytest.fail("the model was loaded for a plan beyond the limits"))
    result = run_cli("run", declared(tmp_path, 200_000), "--out", tmp_path / "map.tif", "--model", narrow_model_file)
    assert_one_line_error(result, "beyond geotrans's limits", "--yes")
    assert not list(tmp_path.glob("*map.tif*"))


def test_yes_lets_a_plan_beyond_the_limits_through_the_check(tmp_path):
    from geotrans.run.options import RunOptions

    plan = plan_run(declared(tmp_path, 200_000), RunOptions(huge=True))
    assert plan.beyond_limits and plan.check_size() is None


def footprints():
    """Footprints as the scene's are: rotated rectangles (a rotated scene's valid pixels), with a hole or
    in two parts (nodata inside, an AOI of two areas)."""
    return st.builds(
        lambda x, y, w, h, angle, hole, second: shapely.difference(
            shapely.union(rotate(shapely.box(x, y, x + w, y + h), angle), second or shapely.Polygon()),
            hole or shapely.Polygon()),
        st.floats(0, 1500), st.floats(0, 1500), st.floats(1, 1200), st.floats(1, 1200), st.floats(0, 90),
        st.one_of(st.none(), st.builds(lambda x, y: shapely.box(x, y, x + 300, y + 300), st.floats(0, 1800),
                                       st.floats(0, 1800))),
        st.one_of(st.none(), st.builds(lambda x, y: shapely.box(x, y, x + 50, y + 20), st.floats(0, 1900),
                                       st.floats(0, 1900))))


@settings(max_examples=150, deadline=None)
@given(footprint=footprints(), overlap=st.sampled_from([0, 32, 64, 128]),
       size=st.tuples(st.integers(1, 2100), st.integers(1, 2100)))
def test_the_counted_windows_are_the_windows_that_touch_the_footprint(footprint, overlap, size):
    grid = TileGrid(size[0], size[1], 256, overlap)
    scene = SceneInfo.__new__(SceneInfo)
    object.__setattr__(scene, "footprint", footprint)
    one_by_one = [tile for tile in grid if scene.touches(tile)]
    assert list(scene.touching(grid)) == one_by_one
    assert scene.count_touching(grid) == len(one_by_one)


def test_info_never_walks_every_window_of_a_plan(tmp_path, monkeypatch, narrow_model_file):
    """A plan of two hundred thousand pixels a side, every one valid (the Korea sample stretched over it), holds
    a million windows to run: `geotrans info` may count them, never list them (it did, to time its reads)."""
    import geotrans.io.scene

    small = tmp_path / "korea.vrt"
    rasterio.shutil.copy(KOREA, small, driver="VRT")
    side = 200_000
    text = re.sub(r'rasterXSize="\d+" rasterYSize="\d+"', f'rasterXSize="{side}" rasterYSize="{side}"',
                  small.read_text(), count=1)
    stretched = tmp_path / "stretched.vrt"
    stretched.write_text(re.sub(r'<DstRect xOff="0" yOff="0" xSize="\d+" ySize="\d+"',
                                f'<DstRect xOff="0" yOff="0" xSize="{side}" ySize="{side}"', text))
    made = []
    real_tile = geotrans.io.scene.Tile

    def counted(*args, **kwargs):
        made.append(1)
        return real_tile(*args, **kwargs)

    monkeypatch.setattr(geotrans.io.scene, "Tile", counted)
    result = run_cli("info", stretched, "--json", "--model", narrow_model_file, "--gsd", "0.9")
    assert result.exit_code == 0, result.output
    windows = __import__("json").loads(result.output)["windows"]
    assert windows["to_run"] > 1_000_000
    assert len(made) < 10_000, len(made)
