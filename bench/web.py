"""Web tiles: tiles per second and peak memory of geotrans's tiler against gdal2tiles on the same map, in the
same run, each in a fresh process; a 2048 px and a 16384 px square map.

The maps repeat the shipped model's real map of the Korea sample (mirrored, so every seam joins features),
square, in EPSG:3857 as the sample is; both tilers write XYZ PNGs of the same zooms (the map's native zoom
down to the whole map in one tile), nearest resampling, one process each. The memory of a tiler that reads
one tile at a time should not grow with the map. geotrans also writes the same tiles as one PMTiles archive
(``--format pmtiles``), whose index is kept until the archive is finished: its memory and size are shown.

Usage: python bench/web.py [--sides 2048 16384]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from vectorize import korea_map  # noqa: E402

OURS = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from geotrans.web.tiles import pyramid_of, write_tiles
pyramid = pyramid_of({src!r})
started = time.perf_counter()
tiles = write_tiles({src!r}, Path({out!r}), pyramid, tile_format={tile_format!r})
seconds = time.perf_counter() - started
peak = next(int(l.split()[1]) / 1024 for l in Path("/proc/self/status").read_text().splitlines()
            if l.startswith("VmHWM"))
print(json.dumps({{"tiles": tiles, "seconds": seconds, "peak_mb": peak, "zooms": [pyramid.minzoom, pyramid.maxzoom]}}))
"""


def square_map(src: Path, dst: Path, side: int) -> Path:
    """``src`` repeated, every other copy mirrored, over a ``side`` px square, on ``src``'s grid extended."""
    with rasterio.open(src) as ds:
        block, mask, profile, tags = ds.read(), ds.read_masks(1), ds.profile, ds.tags()
    tile = np.concatenate([block, block[:, ::-1]], axis=1)
    tile = np.concatenate([tile, tile[:, :, ::-1]], axis=2)
    tile_mask = np.concatenate([mask, mask[::-1]], axis=0)
    tile_mask = np.concatenate([tile_mask, tile_mask[:, ::-1]], axis=1)
    step = tile.shape[1]
    profile.update(width=side, height=side, tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    with rasterio.open(dst, "w", **profile) as out:
        out.update_tags(**tags)
        for row in range(0, side, step):
            for col in range(0, side, step):
                h, w = min(step, side - row), min(step, side - col)
                out.write(tile[:, :h, :w], window=Window(col, row, w, h))
                out.write_mask(tile_mask[:h, :w], window=Window(col, row, w, h))
    return dst


def peak_of_child(command: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(seconds, peak resident MB, the process) of one command, by /usr/bin/time when there, else getrusage."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak = float(done.stderr.strip().splitlines()[-1]) / 1024
    return seconds, peak, done


def ours_in_child(src: Path, out: Path, tile_format: str) -> dict:
    """geotrans's tiler on ``src`` in a fresh process: its tiles, seconds, peak MB and zooms."""
    code = OURS.format(root=str(ROOT), src=str(src), out=str(out), tile_format=tile_format)
    return json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                     check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[2048, 16384])
    args = parser.parse_args()
    gdal2tiles = shutil.which("gdal2tiles.py") or shutil.which("gdal2tiles")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = korea_map(tmp / "korea_map.tif")
        for side in args.sides:
            src = square_map(base, tmp / f"map{side}.tif", side)
            ours = ours_in_child(src, tmp / f"ours{side}", "xyz")
            archive = tmp / f"ours{side}.pmtiles"
            pm = ours_in_child(src, archive, "pmtiles")
            row = {"side": side, "zooms": "-".join(map(str, ours["zooms"])), "geotrans_tiles": ours["tiles"],
                   "geotrans_tiles_per_s": round(ours["tiles"] / ours["seconds"], 1),
                   "geotrans_peak_mb": round(ours["peak_mb"]),
                   "pmtiles_tiles_per_s": round(pm["tiles"] / pm["seconds"], 1),
                   "pmtiles_peak_mb": round(pm["peak_mb"]),
                   "pmtiles_archive_mb": round(archive.stat().st_size / 2**20, 1),
                   "xyz_folder_mb": round(sum(p.stat().st_size for p in (tmp / f"ours{side}").rglob("*.png")) / 2**20,
                                          1)}
            archive.unlink()
            if gdal2tiles:
                out = tmp / f"gdal{side}"
                seconds, peak, done = peak_of_child([gdal2tiles, "--xyz", "-q", "-r", "near", "--processes", "1",
                                                     "-z", row["zooms"], "-w", "none", str(src), str(out)])
                tiles = sum(1 for _ in out.rglob("*.png"))
                row.update(gdal2tiles_tiles=tiles, gdal2tiles_tiles_per_s=round(tiles / seconds, 1),
                           gdal2tiles_peak_mb=round(peak), speed_ratio=round(row["geotrans_tiles_per_s"] /
                                                                             (tiles / seconds), 2),
                           gdal2tiles_exit=done.returncode)
            print(json.dumps(row))
            shutil.rmtree(tmp / f"ours{side}", ignore_errors=True)
            shutil.rmtree(tmp / f"gdal{side}", ignore_errors=True)
            src.unlink()


if __name__ == "__main__":
    main()
