"""Precision: bf16 only where the hardware has it natively, fp32 on request."""
import pytest
import torch

from geotrans.precision import Precision, cpu_has_native_bf16, resolve_precision


def test_auto_takes_bf16_only_on_cpus_with_native_bf16():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu, native_bf16=lambda: True).name == "bf16"
    assert resolve_precision("auto", cpu, native_bf16=lambda: False).name == "fp32"


def test_explicit_precisions_are_kept_and_fp16_is_refused_on_the_cpu():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu, native_bf16=lambda: True).name == "fp32"
    assert resolve_precision("bf16", cpu, native_bf16=lambda: False).name == "bf16"
    with pytest.raises(ValueError, match="CUDA"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("int8", cpu)


def test_autocast_runs_convolutions_in_the_chosen_dtype():
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.rand(1, 3, 8, 8)
    with Precision("bf16", "cpu").autocast():
        assert conv(x).dtype == torch.bfloat16
    with Precision("fp32", "cpu").autocast():
        assert conv(x).dtype == torch.float32


def test_native_bf16_detection_answers_a_bool():
    assert isinstance(cpu_has_native_bf16(), bool)
