"""Code fingerprints: what a change of the user's code does, and does not, change."""

from __future__ import annotations

import importlib
import itertools
import sys
import textwrap

import pytest

from xptrack.application.fingerprint import code_fingerprint, dependencies

_modules = itertools.count()

BASE = """
import json
import {helpers}

THRESHOLD = 3
NAMES = ("a", "b")
table = {{"mutable": 1}}

def helper(x):
    return inner(x) + THRESHOLD

def inner(x):
    return x * 2

def unrelated(x):
    return x - 1

class Scaler:
    def scale(self, x):
        return x * 10

def decorate(func):
    import functools
    @functools.wraps(func)
    def wrapper(*args):
        return func(*args)
    return wrapper

@decorate
def wrapped(x):
    return x + 100

def step(x):
    rows = [helper(v) for v in x]
    return json.dumps([Scaler().scale(r) + wrapped(r) for r in rows]), {helpers}.shared(x), NAMES
"""

HELPERS = """
def shared(x):
    return len(x)
"""


@pytest.fixture
def write_module(tmp_path, monkeypatch):
    """Each call: the module ``fp_module`` (and its ``fp_helpers``) as written, imported anew
    from a folder of its own, so that names stay the same and only the code differs."""

    def write(source: str = BASE, helpers_source: str = HELPERS, **replace: str):
        folder = tmp_path / f"variant{next(_modules)}"
        folder.mkdir()
        text = source.format(helpers="fp_helpers")
        for old, new in replace.items():
            assert old in text, old
            text = text.replace(old, new)
        (folder / "fp_helpers.py").write_text(textwrap.dedent(helpers_source))
        (folder / "fp_module.py").write_text(text)
        for name in ("fp_module", "fp_helpers"):
            sys.modules.pop(name, None)
        monkeypatch.syspath_prepend(str(folder))
        importlib.invalidate_caches()
        return importlib.import_module("fp_module")

    yield write
    for name in ("fp_module", "fp_helpers"):
        sys.modules.pop(name, None)


def fingerprint(module) -> str:
    # The step's own source is the same in every variant: what differs is what it reaches.
    return code_fingerprint(module.step, "def step(x): ...")


def test_the_fingerprint_covers_the_users_functions_it_reaches(write_module):
    names = {name for name, _ in dependencies(write_module().step)}
    assert {"helper", "inner", "Scaler", "wrapped", "shared"} <= names
    assert {"THRESHOLD", "NAMES"} <= names
    assert not names & {"unrelated", "json", "dumps", "table"}, names


@pytest.mark.parametrize(
    "change",
    [
        {"return x * 2": "return x * 3"},  # a function the step's helper calls
        {"THRESHOLD = 3": "THRESHOLD = 4"},  # a constant a helper reads
        {"return x * 10": "return x * 11"},  # a method of a class the step uses
        {"return x + 100": "return x + 101"},  # a decorated function
        {'NAMES = ("a", "b")': 'NAMES = ("a", "c")'},
    ],
    ids=["called-function", "constant", "method", "decorated", "tuple-constant"],
)
def test_a_change_of_reached_code_changes_the_fingerprint(write_module, change):
    assert fingerprint(write_module()) != fingerprint(write_module(**change))


def test_a_change_of_a_helper_module_changes_the_fingerprint(write_module):
    changed = HELPERS.replace("len(x)", "len(x) + 1")
    assert fingerprint(write_module()) != fingerprint(write_module(helpers_source=changed))


def test_unrelated_code_and_mutable_globals_do_not_change_it(write_module):
    same = fingerprint(write_module())
    assert same == fingerprint(write_module(**{"return x - 1": "return x - 2"}))
    assert same == fingerprint(write_module(**{'{"mutable": 1}': '{"mutable": 2}'}))


def test_the_steps_own_source_changes_it(write_module):
    module = write_module()
    assert code_fingerprint(module.step, "a") != code_fingerprint(module.step, "b")


def test_functions_in_a_closure_are_covered():
    def make(offset):
        def helper(x):
            return x + offset

        def step(x):
            return helper(x)

        return step

    assert any(name.endswith("helper") for name, _ in dependencies(make(1)))
