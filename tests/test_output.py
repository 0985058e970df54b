"""Writing outputs: creation profiles reach the file, atomic replace, refusals, overviews."""
import numpy as np
import pytest
import rasterio
from helpers import KOREA, LANDSAT
from rasterio.transform import from_origin

from geotrans.errors import OutputError
from geotrans.io.files import atomic_path
from geotrans.io.sink import COMPRESSIONS, GeoTiffSink, check_output, overview_factors

GRID = {"crs": "EPSG:32618", "transform": from_origin(500000, 4000000, 1, 1), "width": 600, "height": 300}


def test_the_map_profile_reaches_the_file(tmp_path):
    sink = GeoTiffSink(tmp_path / "map.tif", GRID, write_mask=True, tags={"GEOTRANS_X": "1"})
    pixels = np.full((3, 300, 600), 77, np.float32) / 127.5 - 1
    valid = np.ones((300, 600), bool)
    valid[:10] = False
    sink(0, pixels, valid)
    sink.commit()
    with rasterio.open(tmp_path / "map.tif") as ds:
        assert ds.profile["compress"] == COMPRESSIONS["deflate"]["compress"] and ds.profile["blockxsize"] == 256
        assert ds.tags(ns="IMAGE_STRUCTURE") == {"COMPRESSION": "DEFLATE", "INTERLEAVE": "PIXEL", "PREDICTOR": "2"}
        assert ds.tags()["GEOTRANS_X"] == "1" and ds.overviews(1) == overview_factors(300, 600) == [2, 4]
        assert ds.read(1)[20, 20] == 77 and (ds.dataset_mask()[:10] == 0).all()


def test_discard_leaves_nothing(tmp_path):
    sink = GeoTiffSink(tmp_path / "map.tif", GRID, write_mask=True)
    sink.discard()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk gone")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]


def test_outputs_that_are_refused(tmp_path):
    with pytest.raises(OutputError, match="is an input of the run"):
        check_output(KOREA, KOREA, overwrite=True)
    with pytest.raises(OutputError, match="does not exist"):
        check_output(KOREA, tmp_path / "missing" / "o.tif", overwrite=False)
    with pytest.raises(OutputError, match="is a directory"):
        check_output(KOREA, tmp_path, overwrite=False)
    (tmp_path / "o.tif").write_bytes(b"x")
    with pytest.raises(OutputError, match="already exists") as refused:
        check_output(KOREA, tmp_path / "o.tif", overwrite=False)
    assert "--overwrite" in refused.value.hint
    assert isinstance(refused.value, OSError)


def test_overviews_reach_down_to_about_one_tile():
    assert overview_factors(1024, 1024) == [2, 4]
    assert overview_factors(40000, 2048) == [2, 4, 8, 16, 32, 64, 128, 256]
    assert overview_factors(200, 300) == [2]
    assert overview_factors(200, 256) == []


def test_the_compression_names_of_the_options_are_the_profiles():
    from geotrans.run.options import COMPRESSION_NAMES

    assert tuple(COMPRESSIONS) == COMPRESSION_NAMES


@pytest.mark.parametrize("compress", ["zstd", "lzw", "jpeg", "webp"])
def test_each_compression_reaches_the_file_and_lossy_ones_keep_the_mask(tmp_path, narrow_model_file, compress):
    """Landsat has a nodata border: its map's mask must stay a mask (not black pixels) whatever the
    compression."""
    from helpers import run_cli

    plain, out = tmp_path / "plain.tif", tmp_path / f"{compress}.tif"
    for path, extra in ((plain, ()), (out, ("--compress", compress))):
        result = run_cli("run", LANDSAT, "--out", path, "--model", narrow_model_file, "-q", *extra)
        assert result.exit_code == 0, result.output
    with rasterio.open(plain) as a, rasterio.open(out) as b:
        assert b.compression.name.lower() == compress
        assert b.nodata is None and np.array_equal(a.dataset_mask(), b.dataset_mask())
        assert 0 < np.mean(b.dataset_mask() == 0) < 1
        if compress in ("zstd", "lzw"):  # lossless
            assert np.array_equal(a.read(), b.read())


def test_creation_options_reach_the_file_in_gtiff_and_cog(tmp_path, narrow_model_file):
    from helpers import run_cli

    out = tmp_path / "blocks.tif"
    result = run_cli("run", KOREA, "--out", out, "--model", narrow_model_file, "-q",
                     "--co", "BLOCKXSIZE=512", "--co", "blockysize=512")
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds:
        assert ds.block_shapes[0] == (512, 512)
    cog = tmp_path / "cog.tif"
    result = run_cli("run", KOREA, "--out", cog, "--model", narrow_model_file, "-q", "--cog", "--compress", "zstd",
                     "--co", "BLOCKSIZE=512")
    assert result.exit_code == 0, result.output
    with rasterio.open(cog) as ds:
        assert ds.compression.name.lower() == "zstd" and ds.block_shapes[0] == (512, 512)
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_a_malformed_creation_option_is_a_one_line_error(tmp_path, narrow_model_file):
    from helpers import assert_one_line_error, run_cli

    result = run_cli("run", KOREA, "--out", tmp_path / "o.tif", "--model", narrow_model_file, "--co", "ZLEVEL")
    assert_one_line_error(result, "--co takes a GDAL creation option as KEY=VALUE")
    assert not (tmp_path / "o.tif").exists()
