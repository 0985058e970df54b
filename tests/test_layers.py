"""The package's layers, read from its imports: a module imports only from its own layer and those below
it, and no modules import each other in a loop. Every import counts, a function's own included."""
from __future__ import annotations

import ast
import importlib
from functools import lru_cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "geotrans"

# Lowest first. A module may import from its own layer and from those before it, never from one after it.
LAYERS = (
    ("shared", ("geotrans.errors", "geotrans.interrupts")),
    ("model", ("geotrans.model",)),
    ("reading and writing", ("geotrans.io",)),
    ("one run", ("geotrans.run",)),
    ("vectors and web", ("geotrans.vectors", "geotrans.web")),
    ("jobs", ("geotrans.jobs",)),
    ("training", ("geotrans.training",)),
    ("qgis", ("geotrans.qgis",)),
    ("command line", ("geotrans.cli", "geotrans.__main__")),
)
FACE = "geotrans"  # the package's own __init__: the library's API, imported lazily from the layers


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path) -> set[str]:
    """The geotrans modules ``name`` imports, anywhere in its body; ``from X import y`` counts X.y when that
    is a module, else X."""
    known = modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & set(known)
            found |= submodules
            if len(submodules) < len(node.names):  # names defined in the module (or package) itself
                found.add(base)
    return {m for m in found if m in known and m != name}


def layer_of(name: str) -> int:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{name}: in no layer; add it to LAYERS")


def test_every_module_is_in_a_layer():
    for name in modules():
        if name != FACE:
            layer_of(name)


@pytest.mark.parametrize("name", sorted(set(modules()) - {FACE}))
def test_a_module_imports_nothing_from_a_higher_layer(name):
    path = modules()[name]
    upward = sorted(m for m in imports_of(name, path) if m != FACE and layer_of(m) > layer_of(name))
    assert not upward, f"{name} ({LAYERS[layer_of(name)][0]}) imports " + ", ".join(
        f"{m} ({LAYERS[layer_of(m)][0]})" for m in upward)


def test_the_packages_face_is_imported_by_no_layer_but_for_its_version():
    for name, path in modules().items():
        if name != FACE and FACE in imports_of(name, path):
            tree = ast.parse(path.read_text())
            taken = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                     and node.module == FACE and not node.level for alias in node.names}
            assert taken <= {"__version__"}, f"{name} takes {taken} from geotrans's face, not from its layer"


def test_the_qgis_plugin_imports_nothing_of_geotrans():
    """It runs inside QGIS's own Python, where geotrans, torch and rasterio are not installed."""
    for name, path in modules().items():
        if name.startswith("geotrans.qgis.plugin"):
            outside = {m for m in imports_of(name, path) if not m.startswith("geotrans.qgis.plugin")}
            assert not outside, f"{name} imports {outside}"


def test_no_modules_import_each_other_in_a_loop():
    graph = {name: imports_of(name, path) - {FACE} for name, path in modules().items()}
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                loop = trail[trail.index(other):] + [other] if other in trail else [name, other]
                raise AssertionError("import loop: " + " -> ".join(loop))
            if other not in state:
                visit(other, trail + [other])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_layer_test_sees_an_upward_import(tmp_path):
    """The reader itself: a model module importing a run module is caught."""
    path = PACKAGE / "model" / "weights.py"
    tree_imports = imports_of("geotrans.model.weights", path)
    assert "geotrans.model.generator" in tree_imports
    fake = tmp_path / "fake.py"
    fake.write_text("def f():\n    from geotrans.run.plan import plan_run\n")
    assert imports_of("geotrans.model.fake", fake) == {"geotrans.run.plan"}
    assert layer_of("geotrans.run.plan") > layer_of("geotrans.model.fake")


def test_the_changelog_names_each_old_flat_path_s_home_and_the_old_path_is_gone():
    """0.1.0's flat module paths were kept for one release; 0.2.0's changelog names where each went."""
    import importlib
    import re

    changelog = (PACKAGE.parent / "CHANGELOG.md").read_text()
    moves = re.findall(r"^\| `(geotrans\.\w+)` \| `(geotrans\.[\w.]+)` \|$", changelog, re.M)
    assert len(moves) == 25
    for old, new in moves:
        assert new in modules(), new
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(old)
    from geotrans import Cluster, FolderJob, plan_run, run_folder, run_scene

    assert (run_scene.__module__, run_folder.__module__, plan_run.__module__, Cluster.__module__,
            FolderJob.__module__) == ("geotrans.jobs.scene", "geotrans.jobs.folder", "geotrans.run.plan",
                                      "geotrans.jobs.options", "geotrans.jobs.options")
    import geotrans

    assert f"## {geotrans.__version__} " in changelog


@pytest.mark.parametrize("script", sorted(p.stem for p in (PACKAGE.parent / "training" / "experiments").glob("*.py")))
def test_every_experiment_script_runs_as_its_usage_line_says(script):
    """``python -m training.experiments.NAME``: a script whose imports moved with the layers fails here, not in
    the middle of someone's measurement."""
    module = importlib.import_module(f"training.experiments.{script}")
    assert callable(getattr(module, "main", None))
    assert f"python -m training.experiments.{script}" in module.__doc__


def test_every_file_the_package_reads_is_installed_with_it():
    """Each non-Python file under geotrans/ (the model, the plugin's metadata, the viewer's page and scripts) is
    matched by a package_data pattern, read as setuptools reads it (one pattern a line): else `pip install .`
    (not -e) leaves it behind."""
    import configparser
    import fnmatch

    config = configparser.ConfigParser()
    config.read(PACKAGE.parent / "setup.cfg")
    value = config["options.package_data"]["geotrans"]
    patterns = [p.strip() for p in (value.splitlines() if "\n" in value else value.split(",")) if p.strip()]
    data = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert data and not [f for f in data if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
