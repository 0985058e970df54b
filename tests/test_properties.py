"""Property tests: the tiler and the streaming mosaicker over random scene sizes, overlaps and batch sizes.

Synthetic arrays on purpose: the properties must hold for every size from 1 px up, which no fixed set of
real scenes covers; the pixel values come from the real Korea sample, tiled to size.
"""
import numpy as np
import rasterio
import torch
from helpers import KOREA, IdentityGenerator
from hypothesis import given, settings
from hypothesis import strategies as st

from geotrans.io.tiler import TileGrid
from geotrans.model.generator import from_model_range, to_model_range
from geotrans.run.mosaic import StreamingMosaic
from geotrans.run.pipeline import translate_array
from geotrans.run.runner import BatchRunner

with rasterio.open(KOREA) as _ds:
    KOREA_PIXELS = _ds.read()

sizes = st.integers(min_value=1, max_value=700)
overlaps = st.integers(min_value=0, max_value=128)


def real_image(height: int, width: int) -> np.ndarray:
    reps = (1, -(-height // KOREA_PIXELS.shape[1]), -(-width // KOREA_PIXELS.shape[2]))
    return np.ascontiguousarray(np.tile(KOREA_PIXELS, reps)[:, :height, :width])


@settings(max_examples=40, deadline=None)
@given(height=sizes, width=sizes, overlap=overlaps)
def test_weights_sum_to_one_at_every_pixel(height, width, overlap):
    sums = np.zeros((height, width))

    def sink(row, values, valid):
        sums[row : row + values.shape[1]] = values[0]

    mosaic = StreamingMosaic(height, width, 256, overlap, sink, bands=1)
    for tile in TileGrid(height, width, 256, overlap):
        mosaic.add(tile, np.ones((1, 256, 256), np.float32), np.ones((tile.height, tile.width), bool))
    mosaic.close()
    np.testing.assert_allclose(sums, 1.0, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(height=sizes, width=sizes, overlap=overlaps, batch_size=st.integers(min_value=1, max_value=9))
def test_identity_round_trip_is_exact_to_one_level(height, width, overlap, batch_size):
    image = real_image(height, width)
    runner = BatchRunner(IdentityGenerator(), torch.device("cpu"))
    out = translate_array(image, runner, overlap=overlap, batch_size=batch_size)
    assert out.shape == image.shape
    assert np.abs(out.astype(int) - image.astype(int)).max() <= 1


@settings(max_examples=40, deadline=None)
@given(height=sizes, width=sizes, overlap=overlaps)
def test_every_pixel_is_covered_and_windows_stay_inside(height, width, overlap):
    count = np.zeros((height, width), int)
    for tile in TileGrid(height, width, 256, overlap):
        assert tile.row_stop <= height and tile.col_stop <= width
        count[tile.row : tile.row_stop, tile.col : tile.col_stop] += 1
    assert count.min() >= 1


@given(st.integers(min_value=0, max_value=255))
def test_model_range_round_trip(value):
    assert from_model_range(to_model_range(np.array([value], np.uint8)))[0] == value
