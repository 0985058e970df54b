"""Options as data: one identity feeds provenance and resume; one overlap rule."""
import json

import pytest
from helpers import KOREA

from geotrans.errors import InputError
from geotrans.io.tiler import TileGrid
from geotrans.jobs.batch import SceneJob, job_fingerprint
from geotrans.run.options import RunOptions
from geotrans.run.plan import plan_run


def test_identity_leaves_out_what_cannot_change_the_output():
    identity = RunOptions(batch_size=3, device="cpu", overwrite=True, cog=True).identity()
    assert "batch_size" not in identity and "device" not in identity and "overwrite" not in identity
    assert identity["cog"] is True and identity["overlap"] == 64
    assert RunOptions(precision="bf16").identity()["precision"] == "bf16"  # a folder run in bf16 redoes fp32 maps


def test_provenance_and_resume_read_the_same_identity(tmp_path):
    options = RunOptions(overlap=32, batch_size=2, cog=True)
    plan = plan_run(KOREA, options)
    fingerprint = json.loads(job_fingerprint(SceneJob(str(KOREA), str(tmp_path / "o.tif")), options, None))
    assert json.loads(plan.tags["GEOTRANS_PARAMS"]) == fingerprint["params"] == json.loads(
        json.dumps(options.identity()))


@pytest.mark.parametrize("overlap", [-1, 129, 256])
def test_one_overlap_rule_for_options_and_the_tiler(overlap):
    with pytest.raises(InputError, match="between 0 and 128"):
        RunOptions(overlap=overlap)
    with pytest.raises(InputError, match="between 0 and 128"):
        TileGrid(500, 500, 256, overlap)


@pytest.mark.parametrize("gsd", [0.0, -1.0, float("nan"), float("inf")])
def test_ground_resolution_must_be_a_positive_number(gsd):
    with pytest.raises(InputError, match="positive number"):
        RunOptions(gsd=gsd)


@pytest.mark.parametrize("text", ["local:4", "LOCAL:4", "Local:4"])
def test_a_local_cluster_is_read_in_any_case_as_its_help_shows_it(text):
    """#44: the help shows local:N; LOCAL:4 (click's upper-cased metavar, once) is the same cluster."""
    from geotrans.cli.options import LocalCluster

    assert LocalCluster().convert(text, None, None) == 4
