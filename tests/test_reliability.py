"""Nothing lost, nothing silently wrong: real full filesystems and file-size limits."""
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio
from click.testing import CliRunner

from geotrans.cli import main
from helpers import KOREA, LANDSAT, VEGAS

ROOT = Path(__file__).resolve().parent.parent


def can_mount() -> bool:
    if os.geteuid() != 0:
        return False
    probe = Path("/tmp/geotrans-mount-probe")
    probe.mkdir(exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True)
    if ok.returncode == 0:
        subprocess.run(["umount", str(probe)], check=True)
    return ok.returncode == 0


needs_tmpfs = pytest.mark.skipif(not can_mount(), reason="mounting a tmpfs needs root (see the RLIMIT_FSIZE test)")


@pytest.fixture
def small_disk(tmp_path):
    """A real 4 MiB filesystem; ``fill(free_bytes)`` leaves that much space on it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)

    def fill(free: int) -> None:
        (mount / "filler").unlink(missing_ok=True)
        total = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
        with open(mount / "filler", "wb") as f:
            f.write(b"\0" * max(0, total - free))

    try:
        yield mount, fill
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def readable(path: Path) -> bool:
    with rasterio.open(path) as ds:
        ds.read()
        ds.dataset_mask()
        levels = len(ds.overviews(1))
    for level in range(levels):
        with rasterio.open(path, overview_level=level) as overview:
            overview.read()
    return True


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@needs_tmpfs
def test_a_full_disk_never_leaves_a_map_that_is_not_readable(tmp_path, small_disk, narrow_model_file):
    disk, fill = small_disk
    run_cli("run", KOREA, "--out", tmp_path / "roomy.tif", "--model", narrow_model_file, "-q")
    size = (tmp_path / "roomy.tif").stat().st_size
    outcomes = []
    for free in (0, size // 3, size * 2 // 3, size - 8192, size + 2 * 2**20):
        fill(free)
        out = disk / "map.tif"
        result = run_cli("run", KOREA, "--out", out, "--model", narrow_model_file, "-q", "--overwrite")
        assert leftovers(disk) == [], free
        if result.exit_code == 0:
            assert readable(out)
            outcomes.append("written")
        else:
            assert result.exit_code == 1 and "the disk is full" in result.output and not out.exists(), result.output
            assert "Traceback" not in result.output and "internal error" not in result.output
            outcomes.append("refused")
        out.unlink(missing_ok=True)
    assert outcomes == ["refused"] * 4 + ["written"]


@needs_tmpfs
@pytest.mark.parametrize("extra", [[], ["--cog"]])
def test_overwrite_on_a_full_disk_keeps_the_good_map(tmp_path, small_disk, narrow_model_file, extra):
    disk, fill = small_disk
    out = disk / "map.tif"
    assert run_cli("run", VEGAS, "--out", out, "--model", narrow_model_file, "-q").exit_code == 0
    good = out.read_bytes()
    fill(200 * 1024)  # far less than a Korea map, more than the refusal threshold's rounding
    result = run_cli("run", KOREA, "--out", out, "--model", narrow_model_file, "-q", "--overwrite", *extra)
    assert result.exit_code == 1 and "disk is full" in result.output
    assert out.read_bytes() == good and leftovers(disk) == []


@needs_tmpfs
def test_a_full_disk_in_folder_mode_records_the_scene_and_stops(tmp_path, small_disk, narrow_model_file):
    disk, fill = small_disk
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for name, src in (("a.tif", VEGAS), ("b.tif", KOREA), ("c.tif", LANDSAT)):
        (scenes / name).write_bytes(src.read_bytes())
    run_cli("run", VEGAS, "--out", tmp_path / "vegas.tif", "--model", narrow_model_file, "-q")
    fill((tmp_path / "vegas.tif").stat().st_size + 1536 * 1024)  # a.tif fits, b.tif does not
    result = run_cli("run", scenes, "--out", disk / "maps", "--model", narrow_model_file, "-q")
    assert result.exit_code == 1 and "disk is full" in result.output and "Traceback" not in result.output
    import json

    summary = json.loads((disk / "maps" / "geotrans-summary.json").read_text())
    assert [s["status"] for s in summary["scenes"]] == ["done", "failed"]  # c.tif never started
    assert readable(disk / "maps" / "a.tif") and leftovers(disk / "maps") == []


@pytest.mark.slow
def test_a_file_size_limit_fails_cleanly_for_any_user(tmp_path, narrow_model_file):
    """RLIMIT_FSIZE (ulimit -f) makes writes past the limit fail, as a full disk would, without root."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    out = tmp_path / "map.tif"
    result = subprocess.run([sys.executable, "-m", "geotrans", "run", str(KOREA), "--out", str(out), "--model",
                             str(narrow_model_file), "-q"], preexec_fn=limit, capture_output=True, text=True,
                            cwd=ROOT)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.returncode == 1 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "failed" in errors[0] or "disk is full" in errors[0]
    assert not out.exists() and leftovers(tmp_path) == []
