"""The tiler covers every pixel with full-size windows, edges included."""
import numpy as np
import pytest

from geotrans.io.tiler import TileGrid, axis_starts


@pytest.mark.parametrize("height,width,overlap", [(718, 791, 64), (1024, 1024, 0), (257, 600, 32), (256, 256, 64),
                                                  (100, 37, 64), (300, 1000, 128)])
def test_every_pixel_is_covered_by_windows_inside_the_scene(height, width, overlap):
    grid = TileGrid(height, width, 256, overlap)
    count = np.zeros((height, width), dtype=int)
    for tile in grid:
        assert tile.row >= 0 and tile.col >= 0 and tile.row_stop <= height and tile.col_stop <= width
        assert tile.height == min(256, height) and tile.width == min(256, width)  # never shrunk or stretched
        count[tile.row : tile.row_stop, tile.col : tile.col_stop] += 1
    assert count.min() >= 1
    assert len(list(grid)) == len(grid)


def test_last_window_is_shifted_inward_to_end_on_the_edge():
    assert axis_starts(791, 256, 64) == [0, 192, 384, 535]
    assert axis_starts(256, 256, 64) == [0]
    assert axis_starts(100, 256, 64) == [0]


def test_neighbours_share_at_least_the_overlap():
    starts = axis_starts(5000, 256, 48)
    assert all(256 - (b - a) >= 48 for a, b in zip(starts, starts[1:]))


def test_windows_come_in_row_major_order_with_indexes():
    tiles = list(TileGrid(700, 900, 256, 64))
    assert [(t.row, t.col) for t in tiles] == sorted((t.row, t.col) for t in tiles)
    assert [t.index for t in tiles] == list(range(len(tiles)))


@pytest.mark.parametrize("overlap", [-1, 256, 300])
def test_bad_overlap_is_refused(overlap):
    with pytest.raises(ValueError):
        TileGrid(500, 500, 256, overlap)
