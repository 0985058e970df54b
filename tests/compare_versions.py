"""Run two versions of geotrans on every sample scene and compare their outputs file by file.

    python tests/compare_versions.py BASELINE_REF [--after REF] [--model M] [--keep DIR]

BASELINE_REF (and --after, default: this working tree) are git commits, checked
out into temporary worktrees and run with the same Python. Each sample scene is translated in several modes
(plain, --native-res, --cog, --preview, --aoi) and the sample folder in folder
mode, by both versions. A pair of files is reported "identical" when its bytes
are, else "same data" when every pixel, mask, overview level, georeferencing
and tag agree except the tags listed with --expect-tag-change (printed before
and after), else "DIFFERENT". Exits 1 if any pair is DIFFERENT.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.warp import transform_bounds

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_tiles"


def cases(samples: Path, work: Path) -> list[tuple[str, list[str]]]:
    """(name, CLI arguments after `run`); outputs land under the current directory."""
    korea = samples / "korea_rgb_jpeg_3857.tif"
    with rasterio.open(korea) as ds:  # an AOI over the middle of the Korea scene, in WGS84
        west, south, east, north = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    w, s, e, n = (west + (east - west) * 0.3, south + (north - south) * 0.3, west + (east - west) * 0.6,
                  south + (north - south) * 0.55)
    aoi = work / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}))
    out = []
    for scene in sorted(samples.glob("*.tif")):
        stem = scene.stem
        out += [(f"{stem}", [str(scene), "--out", f"{stem}.tif"]),
                (f"{stem} --native-res", [str(scene), "--out", f"{stem}.native.tif", "--native-res"]),
                (f"{stem} --cog", [str(scene), "--out", f"{stem}.cog.tif", "--cog"]),
                (f"{stem} --preview", [str(scene), "--out", f"{stem}.pv.tif", "--preview", f"{stem}.png"])]
    out.append(("korea --aoi", [str(korea), "--out", "korea.aoi.tif", "--aoi", str(aoi)]))
    out.append(("folder mode", [str(samples), "--out", "folder"]))
    return out


def run_version(tree: Path, out_dir: Path, model: str, runs: list[tuple[str, list[str]]]) -> None:
    out_dir.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    for name, args in runs:
        cmd = [sys.executable, "-m", "geotrans", "run", *args, "--model", model, "-q"]
        result = subprocess.run(cmd, cwd=out_dir, env=env, capture_output=True, text=True)
        status = "ok" if result.returncode == 0 else f"exit {result.returncode}: {result.stderr.strip()[-200:]}"
        print(f"  [{tree.name}] {name}: {status}", flush=True)


def compare(a: Path, b: Path, expected_tags: set[str]) -> str:
    if a.read_bytes() == b.read_bytes():
        return "identical"
    if a.suffix.lower() != ".tif":
        return "DIFFERENT (bytes)"
    with rasterio.open(a) as x, rasterio.open(b) as y:
        if (x.profile, x.overviews(1), x.colorinterp) != (y.profile, y.overviews(1), y.colorinterp):
            return "DIFFERENT (profile or overviews)"
        if not (np.array_equal(x.read(), y.read()) and np.array_equal(x.dataset_mask(), y.dataset_mask())):
            return "DIFFERENT (pixels or mask)"
        for factor in x.overviews(1):
            shape = (3, max(1, x.height // factor), max(1, x.width // factor))
            if not np.array_equal(x.read(out_shape=shape), y.read(out_shape=shape)):
                return f"DIFFERENT (overview 1/{factor})"
        tx, ty = x.tags(), y.tags()
        changed = sorted(k for k in set(tx) | set(ty) if tx.get(k) != ty.get(k))
        unexpected = [k for k in changed if k not in expected_tags]
        if unexpected:
            return f"DIFFERENT (tags {unexpected})"
        return "same data; tag changed: " + "; ".join(f"{k}: {tx.get(k)} -> {ty.get(k)}" for k in changed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", help="git commit to compare against")
    parser.add_argument("--model", default=str(ROOT / "geotrans" / "default_model" / "generator.safetensors"))
    parser.add_argument("--expect-tag-change", action="append", default=[], metavar="TAG",
                        help="a tag whose change is intended (repeatable)")
    parser.add_argument("--after", default=None, help="git commit to compare (default: this working tree)")
    parser.add_argument("--keep", default=None, help="keep outputs in this folder")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="geotrans-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    trees = {"before": (work / "before-tree", args.baseline), "after": (work / "after-tree", args.after)}
    try:
        runs = cases(SAMPLES, work)
        for side, (tree, ref) in trees.items():
            if ref is None:
                tree = ROOT
            else:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(tree), ref],
                               check=True, capture_output=True)
            run_version(tree, work / side, args.model, runs)
    finally:
        for tree, ref in trees.values():
            if ref is not None:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                               capture_output=True)
    before = sorted(p.relative_to(work / "before") for p in (work / "before").rglob("*") if p.is_file())
    after = sorted(p.relative_to(work / "after") for p in (work / "after").rglob("*") if p.is_file())
    skip = {"folder/geotrans-summary.json"}  # holds timings
    different = 0
    for rel in sorted(set(before) | set(after)):
        if str(rel) in skip:
            continue
        if rel not in before or rel not in after:
            verdict = "DIFFERENT (only in " + ("after" if rel not in before else "before") + ")"
        else:
            verdict = compare(work / "before" / rel, work / "after" / rel, set(args.expect_tag_change))
        different += verdict.startswith("DIFFERENT")
        print(f"{str(rel):<48} {verdict}")
    print(f"{len(set(before) | set(after)) - len(skip)} files compared, {different} different; outputs in {work}")
    sys.exit(1 if different else 0)


if __name__ == "__main__":
    main()
