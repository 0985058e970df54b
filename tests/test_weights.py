"""Exported generators load safely and exactly."""
import pytest
import torch
from safetensors.torch import save_file

from geotrans.errors import ModelError, NoModelError
from geotrans.model.generator import build_generator
from geotrans.model.weights import default_model_path, load_generator, save_generator


def test_export_then_load_gives_the_same_fp16_weights(tmp_path):
    torch.manual_seed(0)
    net = build_generator(ngf=8)
    save_generator(net, tmp_path / "g.safetensors", name="roundtrip", card={"epochs": 3})
    loaded, info = load_generator(tmp_path / "g.safetensors")
    assert (info.name, info.ngf, info.norm, info.card) == ("roundtrip", 8, "instance", {"epochs": 3})
    assert len(info.sha256) == 64
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value.half().float()), key
    assert not loaded.training


def test_bare_safetensors_without_header_is_refused(tmp_path):
    save_file({"w": torch.zeros(2)}, tmp_path / "bare.safetensors")
    with pytest.raises(ModelError, match="without a geotrans generator header"):
        load_generator(tmp_path / "bare.safetensors")


def test_weights_of_another_width_are_refused(tmp_path):
    save_generator(build_generator(ngf=8), tmp_path / "g.safetensors", name="x")
    from safetensors import safe_open

    with safe_open(str(tmp_path / "g.safetensors"), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = f.metadata()
    save_file(tensors, tmp_path / "lying.safetensors", metadata={"geotrans": meta["geotrans"].replace('"ngf": 8', '"ngf": 16')})
    with pytest.raises(ModelError, match="do not match"):
        load_generator(tmp_path / "lying.safetensors")


def test_default_model_is_package_data_or_a_clear_refusal():
    try:
        path = default_model_path()
    except NoModelError as err:
        assert "--model" in err.hint
    else:
        net, info = load_generator(path)
        assert path.stat().st_size <= 50 * 2**20 and info.sha256


def _retag(tmp_path, name, edit_config=None, edit_tensors=None):
    """A real exported ngf=8 generator, with its header config or tensors changed."""
    import json

    from safetensors import safe_open

    save_generator(build_generator(ngf=8), tmp_path / "g.safetensors", name="x", card={"native_resolution_m": 0.9})
    with safe_open(str(tmp_path / "g.safetensors"), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        config = json.loads(f.metadata()["geotrans"])
    if edit_config:
        edit_config(config)
    if edit_tensors:
        edit_tensors(tensors)
    save_file(tensors, tmp_path / name, metadata={"geotrans": json.dumps(config)})
    return tmp_path / name


def test_an_absurd_width_is_refused_before_anything_is_allocated(tmp_path, monkeypatch):
    import geotrans.model.weights

    huge = _retag(tmp_path, "huge.safetensors", edit_config=lambda c: c.update(ngf=4096))
    with pytest.raises(ModelError, match="ngf=4096"):
        load_generator(huge)
    lying = _retag(tmp_path, "lying16.safetensors", edit_config=lambda c: c.update(ngf=16))

    def no_loading(*args, **kwargs):
        raise AssertionError("weights were loaded before the shapes were checked")

    monkeypatch.setattr(geotrans.model.weights, "load_safetensors", no_loading)
    with pytest.raises(ModelError, match="do not match a U-Net with ngf=16"):
        load_generator(lying)


def test_nan_or_infinite_weights_are_refused(tmp_path):
    def poison(tensors):
        key = next(k for k, v in tensors.items() if v.is_floating_point())
        tensors[key] = tensors[key].clone()
        tensors[key].view(-1)[3] = float("nan")

    with pytest.raises(ModelError, match="NaN or infinite"):
        load_generator(_retag(tmp_path, "nan.safetensors", edit_tensors=poison))


@pytest.mark.parametrize("resolution", [0, -1, "fine", float("nan")])
def test_a_card_resolution_that_is_not_a_positive_number_is_refused(tmp_path, resolution):
    edit = lambda c: c["card"].update(native_resolution_m=resolution)  # noqa: E731
    with pytest.raises(ModelError, match="positive number of metres"):
        load_generator(_retag(tmp_path, "card.safetensors", edit_config=edit))


@pytest.mark.parametrize("card, said", [(7, "card is a int"), ([1, 2], "card is a list"), ("x", "card is a str")])
def test_a_card_that_is_not_an_object_is_one_line_through_every_command(tmp_path, card, said):
    from helpers import KOREA, assert_one_line_error, run_cli

    model = _retag(tmp_path, "card.safetensors", edit_config=lambda c: c.update(card=card))
    with pytest.raises(ModelError, match=said):
        load_generator(model)
    assert_one_line_error(run_cli("info", KOREA, "--model", model), said)
    assert_one_line_error(run_cli("run", KOREA, "--out", tmp_path / "m.tif", "--model", model), said)
    assert not (tmp_path / "m.tif").exists()
