"""Folder runs, clusters and tunes as value types (``FolderJob``, ``Cluster``, ``TuneJob``): each refuses what
cannot run when it is made, in the library's words, and the command line in its flags."""
from __future__ import annotations

import pytest
from helpers import KOREA, assert_one_line_error, run_cli

from geotrans import Cluster, FolderJob, RunOptions, run_folder
from geotrans.cli.options import flag_of
from geotrans.errors import InputError


def test_a_cluster_is_here_a_scheduler_or_local_workers_and_never_two_of_them():
    assert Cluster().here and Cluster().describe() == "this machine"
    assert Cluster(local_workers=2).describe() == "a Dask cluster (local:2)"
    assert Cluster(scheduler="tcp://h:8786").describe() == "a Dask cluster (tcp://h:8786)"
    with pytest.raises(InputError) as both:
        Cluster(scheduler="tcp://h:8786", local_workers=2)
    assert both.value.said(flag_of) == "--scheduler and --cluster: a run uses one cluster; give one of them"
    with pytest.raises(InputError, match="at least one worker"):
        Cluster(local_workers=0)


def test_the_command_line_refuses_a_scheduler_and_a_local_cluster_together(tmp_path):
    result = run_cli("run", KOREA, "--out", str(tmp_path / "m.tif"), "--scheduler", "tcp://127.0.0.1:1",
                     "--cluster", "local:2")
    assert_one_line_error(result, "--scheduler and --cluster: a run uses one cluster")
    assert not (tmp_path / "m.tif").exists()


def test_a_folder_job_names_its_scenes_and_a_library_folder_run_takes_it(tmp_path):
    with pytest.raises(InputError, match="needs a folder of scenes or a list file"):
        FolderJob(None, str(tmp_path / "maps"))
    job = FolderJob(str(tmp_path), str(tmp_path / "maps"), patterns=["*.png"])
    assert job.patterns == ("*.png",) and not job.recursive and not job.force
    with pytest.raises(InputError, match=r"no scenes matching \*\.png"):
        run_folder(job, RunOptions())


def test_a_tune_job_refuses_a_class_that_is_not_a_map_class():
    from geotrans.training.tune import TuneJob

    job = TuneJob(["a.tif"], ["roads.geojson"], "out.safetensors", label_class="street")
    assert job.scenes == ("a.tif",) and job.holdout == 0.2
    with pytest.raises(InputError) as refused:
        TuneJob(["a.tif"], ["roads.geojson"], "out.safetensors", label_class="road")
    assert str(refused.value).startswith("label_class road: not one of")
    assert refused.value.said(flag_of).startswith("--label-class road: not one of")
