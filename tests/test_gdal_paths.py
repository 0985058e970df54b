"""Any path or URL that rasterio opens is accepted as input: /vsizip/, /vsimem/, /vsicurl/ over HTTP."""
import os
import subprocess
import sys
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import VEGAS, run_cli


@contextmanager
def serving(folder: Path, fails: int = 0):
    """tests/range_server.py serving ``folder`` on the loopback address, in a process of its own (GDAL holds the
    GIL while it reads, so a server thread in this process would never answer); its first ``fails`` requests are
    answered 503."""
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("range_server.py")), str(folder), "300",
                               str(fails)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline().split()[-1])
        yield f"http://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait()


@pytest.fixture
def served(tmp_path):
    with serving(tmp_path) as url:
        yield url



def same_map(a, b):
    with rasterio.open(a) as x, rasterio.open(b) as y:
        return np.array_equal(x.read(), y.read()) and x.transform == y.transform


def test_zip_http_and_url_inputs_give_the_local_map(tmp_path, served, narrow_model_file):
    local = tmp_path / "local.tif"
    assert run_cli("run", VEGAS, "--out", local, "--model", narrow_model_file, "-q").exit_code == 0
    with zipfile.ZipFile(tmp_path / "scenes.zip", "w") as z:
        z.write(VEGAS, "vegas.tif")
    (tmp_path / "vegas.tif").write_bytes(VEGAS.read_bytes())
    for i, src in enumerate([f"/vsizip/{tmp_path / 'scenes.zip'}/vegas.tif", f"/vsicurl/{served}/vegas.tif",
                             f"{served}/vegas.tif"]):
        out = tmp_path / f"out{i}.tif"
        result = run_cli("run", src, "--out", out, "--model", narrow_model_file, "-q")
        assert result.exit_code == 0, (src, result.output)
        assert same_map(local, out), src


def test_a_gdal_path_that_does_not_open_says_what_gdal_said(tmp_path, served, narrow_model_file):
    result = run_cli("run", f"/vsicurl/{served}/missing.tif", "--out", tmp_path / "o.tif", "--model",
                     narrow_model_file)
    assert result.exit_code == 1 and "GDAL cannot open it" in result.output and "internal error" not in result.output
    assert not (tmp_path / "o.tif").exists()


@pytest.mark.parametrize("environ, succeeds", [({"GDAL_HTTP_RETRY_DELAY": "0.2"}, True),  # the run's 3 retries
                                               ({"GDAL_HTTP_MAX_RETRY": "0"}, False)])  # the user's setting wins
def test_a_busy_server_is_retried_with_back_off(tmp_path, narrow_model_file, environ, succeeds):
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "vegas.tif").write_bytes(VEGAS.read_bytes())
    out = tmp_path / "o.tif"
    with serving(folder, fails=2) as url:
        done = subprocess.run([sys.executable, "-m", "geotrans", "run", f"/vsicurl/{url}/vegas.tif", "--out", str(out),
                               "--model", str(narrow_model_file), "-q"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, **environ})
    if succeeds:
        assert done.returncode == 0, done.stderr
        with rasterio.open(out) as ds:
            ds.read()
    else:
        assert done.returncode == 1 and "503" in done.stderr and "Traceback" not in done.stderr
        assert not out.exists()
