"""Palette snapping and test-time augmentation."""
import numpy as np
import pytest
import rasterio
import torch
from helpers import KOREA, LANDSAT, IdentityGenerator, run_scene

from geotrans.io.tiler import Tile
from geotrans.jobs.batch import SceneJob, job_fingerprint
from geotrans.model.generator import build_generator, to_model_range
from geotrans.model.palette import Palette, Snapper, learn_palette, snap, srgb_to_lab
from geotrans.model.weights import load_generator, read_model_info, save_generator
from geotrans.run.options import RunOptions
from geotrans.run.plan import plan_run
from geotrans.run.runner import D4, Batch, BatchRunner, d4, d4_inverse

# The four colours that cover most of the training maps (measured in issue #10).
MAP_COLOURS = ((232, 228, 220), (176, 208, 252), (252, 252, 252), (200, 220, 172))


def test_lab_matches_published_values():
    """sRGB white is L=100, a=b=0; pure sRGB red is (53.24, 80.09, 67.20) in CIELAB (D65)."""
    lab = srgb_to_lab(np.array([[255, 255, 255], [255, 0, 0], [0, 0, 0]], np.uint8))
    assert np.allclose(lab, [[100, 0, 0], [53.24, 80.09, 67.20], [0, 0, 0]], atol=0.05)


def test_snap_moves_close_pixels_exactly_onto_the_palette_and_leaves_far_ones():
    palette = Palette(MAP_COLOURS, max_delta_e=6.0)
    pixels = np.array([[[233, 227, 221],   # 1-2 DN off the background: snaps
                        [178, 207, 250],   # near water: snaps
                        [255, 0, 0],       # red is far from every map colour: stays
                        [214, 224, 196]]], np.uint8).transpose(2, 0, 1)  # halfway park/background: stays
    snapped = snap(pixels, palette)
    assert snapped[:, 0, 0].tolist() == [232, 228, 220]
    assert snapped[:, 0, 1].tolist() == [176, 208, 252]
    assert snapped[:, 0, 2].tolist() == [255, 0, 0] and snapped[:, 0, 3].tolist() == [214, 224, 196]
    assert np.array_equal(snap(snapped, palette), snapped)  # snapping twice changes nothing
    assert np.array_equal(snap(pixels, Palette(MAP_COLOURS, 0.0)), pixels)


def test_the_snapper_s_table_gives_snap_s_result_filling_exactly_the_colours_it_meets():
    """The shipped palette on a real map made without it (Korea, shipped model), then on every 8-bit colour."""
    palette = Palette.from_card(read_model_info(None).card)
    from geotrans.run.pipeline import translate_array

    generator, _ = load_generator(None)
    with rasterio.open(KOREA) as ds:
        image = ds.read(window=rasterio.windows.Window(0, 0, 512, 512))
    runner = BatchRunner(generator, torch.device("cpu"), precision="fp32")
    pixels = translate_array(image, runner)  # uint8 (3, 512, 512): the model's colours, unsnapped
    table = Snapper(palette)
    assert np.array_equal(table(pixels), snap(pixels, palette))
    assert (table._codes != Snapper.UNKNOWN).sum() == len(colour_keys(pixels))  # exactly the colours met
    assert (table(pixels) != pixels).any()
    # Colours from all over the cube, more than one scan's threshold: still exactly the colours met, and right.
    colours = np.random.default_rng(0).integers(0, 256, (3, 1, 4 * Snapper.SCAN_FROM)).astype(np.uint8)
    assert np.array_equal(table(colours), snap(colours, palette))
    met = np.union1d(colour_keys(pixels), colour_keys(colours))
    assert np.array_equal(np.flatnonzero(table._codes != Snapper.UNKNOWN), met)


def colour_keys(pixels: np.ndarray) -> np.ndarray:
    """The distinct 24-bit colours of uint8 (3, ...) pixels."""
    rgb = pixels.reshape(3, -1).astype(np.int64)
    return np.unique((rgb[0] << 16) | (rgb[1] << 8) | rgb[2])


def test_learning_finds_the_colours_a_map_is_made_of():
    """Real map pixels from a training-style rendering are not at hand in the package; the map colours of the
    issue, each with a little noise, are: k-means must find each of them again."""
    rng = np.random.default_rng(1)
    pixels = np.concatenate([np.clip(np.array(c) + rng.integers(-2, 3, (500, 3)), 0, 255)
                             for c in MAP_COLOURS]).astype(np.uint8)
    found = learn_palette(pixels, 4)
    for colour in MAP_COLOURS:
        assert np.abs(found.astype(int) - colour).max(axis=1).min() <= 2


@pytest.fixture(scope="module")
def palette_model_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "palette.safetensors"
    save_generator(build_generator(ngf=8), path, name="palette-test",
                   card=Palette(MAP_COLOURS, 40.0).to_card())
    return path


def test_a_scene_is_snapped_after_blending_whatever_its_tiling(tmp_path, palette_model_file):
    """The snapped map equals the plain map snapped pixel by pixel, in one pass and in column bands: snapping
    is a function of the final pixels, so tiling, bands and strips cannot change it."""
    generator, info = load_generator(palette_model_file)
    palette = Palette.from_card(info.card)
    plain = run_scene(LANDSAT, tmp_path / "plain.tif", generator, RunOptions(palette="off", precision="fp32"), info)
    snapped = run_scene(LANDSAT, tmp_path / "snapped.tif", generator, RunOptions(precision="fp32"), info)
    with rasterio.open(plain.dst) as a, rasterio.open(snapped.dst) as b:
        expected, valid = snap(a.read(), palette), a.dataset_mask() > 0
        expected[:, ~valid] = 0
        assert np.array_equal(b.read(), expected)
        assert 0 < np.mean(np.any(b.read() != a.read(), axis=0)[valid]) < 1
    assert plan_run(LANDSAT, RunOptions(palette="off"), info).palette is None


def test_models_without_a_palette_keep_working(tmp_path, narrow_model_file):
    info = read_model_info(narrow_model_file)
    assert plan_run(KOREA, RunOptions(palette="auto"), info).palette is None


def test_tta_of_an_identity_generator_is_the_input():
    batch = Batch()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (3, 256, 256), dtype=np.uint8)
    batch.append(Tile(0, 0, 256, 256), pixels, np.ones((256, 256), bool))
    out = BatchRunner(IdentityGenerator(), torch.device("cpu"), precision="fp32", tta=True).run(batch)
    assert np.allclose(out[0], to_model_range(pixels), atol=1e-6)


def test_each_transform_is_undone_and_all_eight_differ():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    assert len({tuple(d4(x, *t).flatten().tolist()) for t in D4}) == 8
    for t in D4:
        assert torch.equal(d4_inverse(d4(x, *t), *t), x)


def test_tta_of_a_real_generator_differs_from_the_plain_run():
    torch.manual_seed(0)
    net = build_generator(ngf=8)
    batch = Batch()
    batch.append(Tile(0, 0, 256, 256), np.random.default_rng(0).integers(0, 256, (3, 256, 256), dtype=np.uint8),
                 np.ones((256, 256), bool))
    plain = BatchRunner(net, torch.device("cpu"), precision="fp32").run(batch)
    tta = BatchRunner(net, torch.device("cpu"), precision="fp32", tta=True).run(batch)
    assert np.abs(plain - tta).mean() > 1e-3


def test_the_resume_fingerprint_includes_palette_and_tta(narrow_model_file):
    info = read_model_info(narrow_model_file)
    job = SceneJob(str(KOREA), "/tmp/out.tif")
    fingerprints = {job_fingerprint(job, options, info)
                    for options in (RunOptions(), RunOptions(palette="off"), RunOptions(tta=True))}
    assert len(fingerprints) == 3
