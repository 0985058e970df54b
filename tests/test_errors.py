"""Library errors say what is wrong in the library's terms; the CLI names the flags (``cli.options.flag_of``)."""
from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

from geotrans.cli.options import flag_of
from geotrans.errors import InputError, OutputError
from geotrans.run.options import RunOptions

PACKAGE = Path(__file__).resolve().parents[1] / "geotrans"
FLAG = re.compile(r"(?<![\w-])--[a-z]")


def _message_texts(call: ast.Call) -> list[str]:
    """The literal text of an error call's message (its first argument), f-string pieces included."""
    if not call.args:
        return []
    first = call.args[0]
    return [n.value for n in ast.walk(first) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_no_library_error_message_names_a_command_line_flag():
    named = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] in ("cli", "qgis"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and \
                    getattr(node.exc.func, "id", getattr(node.exc.func, "attr", "")).endswith("Error"):
                named += [f"{path.relative_to(PACKAGE)}:{node.lineno}: {text}" for text in _message_texts(node.exc)
                          if FLAG.search(text)]
    assert not named


def test_the_library_says_an_option_s_name_and_the_cli_its_flag():
    try:
        RunOptions(compile=True, dropout_seed=3)
    except InputError as err:
        refused = err
    assert str(refused) == "compile runs the generator without dropout; leave out dropout_seed or compile"
    assert refused.said(flag_of) == "--compile runs the generator without dropout; leave out --dropout or --compile"
    assert [flag_of(n) for n in ("creation_options", "strip_rows", "local_workers")] == \
        ["--co", "--strip-rows", "--cluster"]


def test_an_error_from_a_worker_keeps_its_hint_and_the_options_it_names():
    err = OutputError("{compress} refused", hint="pass {overwrite}", options=["compress", "overwrite"])
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is OutputError and isinstance(back, OSError)
    assert (str(back), back.hint, back.said(flag_of), back.said_hint(flag_of)) == \
        ("compress refused", "pass overwrite", "--compress refused", "pass --overwrite")
