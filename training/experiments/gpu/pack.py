"""Pack a training run for the lent GPU machine, whose calls carry at most 64 MiB each.

The mix (1096 New York pairs, 117 MB; Dubai and EPFL, 18 MB), v4 (27 MB) and the packages the GPU
machine lacks do not fit one call, so they travel in three, back to back while the machine stays
warm (30 s), each copying its part to /tmp/gd there:

  python training/experiments/gpu/pack.py            # writes .gpudata/p1..p3 (in .gitignore)
  mv geotrans/default_model/generator.safetensors /tmp/  # the model travels once, in p3
  run: bash training/experiments/gpu/setup.sh   carry [.gpudata/p1]  # packages, pairs 1, speed test
  run: bash training/experiments/gpu/add.sh     carry [.gpudata/p2]  # pairs 2
  run: bash training/experiments/gpu/train.sh   carry [.gpudata/p3]  # labelled, v4; trains, exports
  mv /tmp/generator.safetensors geotrans/default_model/
  cat $FILES_AT/NAME.safetensors.part-* > NAME.safetensors   # each file back is at most 16 MiB

rasterio's wheel (36 MB) does not fit either; training on pairs and masks never calls it, so a stand-in
package that imports and raises on use goes instead (the speed test of the first call would show one
that is called). Session 22 ran it: 27-43 steps/s on one H200, 10100 steps in 4.4-5 minutes.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

LIMIT = 64 * 2**20
MARGIN = 2_000_000  # scripts, and files that change between packing and the call
WHEELS = ("shapely==2.2.0", "affine==3.0.1")
STUB_MODULES = ("crs", "enums", "features", "fill", "transform", "vrt", "warp", "windows", "shutil", "io", "env")
STUB = '''"""A stand-in for rasterio on the GPU machine: importing works, using anything raises."""


class Stub:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Stub(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"rasterio stand-in: {self._name} was called on the GPU machine")


def module_getattr(module):
    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Stub(f"{module}.{name}")
    return __getattr__
'''
STUB_ERRORS = '''class RasterioError(Exception):
    pass


class NotGeoreferencedWarning(UserWarning):
    pass


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return type(name, (RasterioError,), {})
'''


def tree_bytes(skip: str) -> int:
    """Bytes of the working tree that travels with every call, less ``skip`` (moved away for the calls)."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], capture_output=True, text=True,
                           check=True).stdout.split("\n")
    return sum(Path(n).stat().st_size for n in names if n and n != skip and Path(n).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def write_stub(folder: Path) -> None:
    package = folder / "rasterio"
    package.mkdir(parents=True, exist_ok=True)
    (package / "_stub.py").write_text(STUB)
    (package / "errors.py").write_text(STUB_ERRORS)
    for name in ("__init__", *STUB_MODULES):
        module = "rasterio" if name == "__init__" else f"rasterio.{name}"
        (package / f"{name}.py").write_text(f"from rasterio._stub import module_getattr\n"
                                            f"__getattr__ = module_getattr({module!r})\n")


def fetch_wheels(folder: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
                    "--platform", "manylinux_2_24_x86_64", "--platform", "manylinux2014_x86_64", "-d", str(folder),
                    *WHEELS], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data", help="the shared data folder")
    parser.add_argument("--model", default="geotrans/default_model/generator.safetensors", help="the warm start")
    parser.add_argument("--out", default=".gpudata")
    args = parser.parse_args()
    out, data = Path(args.out), Path(args.data)
    shutil.rmtree(out, ignore_errors=True)
    parts = [out / f"p{i}" for i in (1, 2, 3)]
    for part in parts:
        part.mkdir(parents=True)
    for part in (parts[0], parts[2]):
        write_stub(part / "stub")
        fetch_wheels(part)
    shutil.copy(args.model, parts[2] / "init.safetensors")
    for name in ("dubai", "epfl_roads"):
        shutil.copytree(data / "labelled" / name, parts[2] / name)
    tree = tree_bytes(skip=args.model)
    room = [LIMIT - tree - MARGIN - folder_bytes(p) for p in parts]
    pairs = sorted((data / "maps" / "train").glob("*.jpg"), key=lambda p: int(p.stem))
    which = 0
    for pair in pairs:
        while pair.stat().st_size > room[which]:
            which += 1
            if which == len(parts):
                sys.exit("the pairs do not fit three calls")
        (parts[which] / "maps").mkdir(exist_ok=True)
        shutil.copy(pair, parts[which] / "maps")
        room[which] -= pair.stat().st_size
    for part in parts:
        count = len(list((part / "maps").glob("*.jpg"))) if (part / "maps").is_dir() else 0
        print(f"{part}: {count} pairs, {(folder_bytes(part) + tree) / 2**20:.1f} MiB with the tree")


if __name__ == "__main__":
    main()
