"""The mosaicker blends with weights that sum to 1 and streams with a bounded band of rows."""
import numpy as np
import pytest
import rasterio
from helpers import KOREA, LANDSAT

from geotrans.io.scene import SceneReader, inspect_scene
from geotrans.io.tiler import TileGrid
from geotrans.run.mosaic import StreamingMosaic, blend_ramp


class RecordingSink:
    def __init__(self):
        self.calls = []

    def __call__(self, row, values, valid):
        self.calls.append((row, values.copy(), valid.copy()))


def test_ramp_is_smooth_positive_and_flat_inside():
    ramp = blend_ramp(256, 64)
    assert ramp.min() > 0 and ramp.max() == 1
    assert np.all(ramp[64:192] == 1)
    assert np.all(np.diff(ramp[:64]) > 0) and np.all(np.diff(ramp[192:]) < 0)
    assert np.abs(np.diff(ramp)).max() < 0.03  # no step anywhere: no seam
    # Neighbours one stride apart share the overlap with complementary weights.
    np.testing.assert_allclose(ramp[192:] + ramp[:64], 1, atol=1e-12)


def test_constant_tiles_blend_to_the_same_constant_everywhere():
    # Weights are normalised per pixel, scene edges and corners included.
    sink = RecordingSink()
    grid = TileGrid(700, 530, 256, 64)
    mosaic = StreamingMosaic(700, 530, 256, 64, sink)
    for tile in grid:
        mosaic.add(tile, np.full((3, 256, 256), 0.25, np.float32), np.ones((tile.height, tile.width), bool))
    mosaic.close()
    out = np.concatenate([values for _, values, _ in sink.calls], axis=1)
    assert out.shape == (3, 700, 530)
    np.testing.assert_allclose(out, 0.25, atol=1e-6)


def test_streams_rows_as_they_finish_with_a_bounded_buffer():
    """Structural: on a real scene, rows reach the sink while tiles still arrive, and the
    accumulator never holds more than tile + stride rows."""
    scene = inspect_scene(KOREA)
    grid = TileGrid(scene.grid.height, scene.grid.width, 256, 64)
    sink = RecordingSink()
    mosaic = StreamingMosaic(scene.grid.height, scene.grid.width, 256, 64, sink)
    held = []
    with SceneReader(scene, 256) as reader:
        tiles = list(grid)
        for n, tile in enumerate(tiles):
            pixels, valid = reader.read(tile)
            mosaic.add(tile, pixels, valid)
            held.append((n, mosaic.rows_flushed))
    mosaic.close()
    assert mosaic.capacity == 256 + 192
    assert mosaic.buffer_shape == (3, 256 + 192, scene.grid.width)
    # Rows were written long before the last tile came in.
    first_flush = next(n for n, flushed in held if flushed > 0)
    assert first_flush < len(tiles) // 2
    rows = [(row, values.shape[1]) for row, values, _ in sink.calls]
    assert rows[0][0] == 0 and all(r + n == r2 for (r, n), (r2, _) in zip(rows, rows[1:]))
    assert sum(n for _, n in rows) == scene.grid.height


def test_buffer_does_not_grow_with_scene_height():
    short = StreamingMosaic(2048, 2048, 256, 64, RecordingSink())
    tall = StreamingMosaic(40000, 2048, 256, 64, RecordingSink())
    assert tall.buffer_shape == short.buffer_shape
    assert tall.buffer_shape[1] == 448


def test_tiles_out_of_order_are_refused():
    grid = list(TileGrid(700, 300, 256, 64))
    mosaic = StreamingMosaic(700, 300, 256, 64, RecordingSink())
    mosaic.add(grid[-1], np.zeros((3, 256, 256), np.float32), np.ones((256, 256), bool))
    with pytest.raises(ValueError):
        mosaic.add(grid[0], np.zeros((3, 256, 256), np.float32), np.ones((256, 256), bool))


def test_invalid_pixels_get_no_weight_and_stay_uncovered():
    scene = inspect_scene(LANDSAT)
    sink = RecordingSink()
    mosaic = StreamingMosaic(scene.grid.height, scene.grid.width, 256, 64, sink)
    with SceneReader(scene, 256) as reader:
        for tile in TileGrid(scene.grid.height, scene.grid.width, 256, 64):
            mosaic.add(tile, *reader.read(tile))
    mosaic.close()
    covered = np.concatenate([valid for _, _, valid in sink.calls])
    with rasterio.open(LANDSAT) as ds:
        np.testing.assert_array_equal(covered, ds.dataset_mask() > 0)
