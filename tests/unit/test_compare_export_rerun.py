"""ex.diff, ex.export, ex.rerun and the command-line value rules, on the memory store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import xptrack
from tests.sessions import build_session
from xptrack.application.cli.values import BadValue, parameter_values, typed_value
from xptrack.domain.diffing import package_changes, same_value, split_steps
from xptrack.domain.environment import EnvironmentSnapshot

GIT = '{{"repository": "/r", "commit": "{commit}", "branch": "main", "dirty": {dirty}}}'


def snapshot(numpy_version: str, commit: str, dirty: str, python: str = "3.11") -> dict:
    return {
        "python": json.dumps({"version": python, "implementation": "CPython"}),
        "numpy": f"numpy {numpy_version}\nblas: openblas\n",
        "git": GIT.format(commit=commit, dirty=dirty),
        "requirements": f"dask==1\nnumpy=={numpy_version}\n"
        + ("oldpkg==0.1\n" if numpy_version == "1.0" else "newpkg==2.0\n"),
    }


@pytest.fixture
def two_trials(make_experiment, probe):
    ex = make_experiment("diffs")
    s = build_session(ex, epochs=5)
    ex.set_parameters(a=1, b=2)
    probe.snapshot = EnvironmentSnapshot(snapshot("1.0", "abc", "false"))
    s.compute(seed=1)

    @ex.result
    def score(s, f):
        return 20 / s

    s = score(*s.args)
    ex.set_parameters(b=3)
    probe.snapshot = EnvironmentSnapshot(snapshot("2.0", "def", "true", python="3.12"))
    s.compute(seed=2)
    return ex, s


def test_diff_names_every_part_that_changed(two_trials):
    ex, _ = two_trials
    diff = ex.diff(1, 2)
    assert set(diff.parameters) == {"b"} and str(diff.parameters["b"]) == "2 -> 3"
    assert (diff.seed.before, diff.seed.after) == (1, 2)
    assert (diff.result.before, diff.result.after) == (10 / 3, 5.0)
    assert diff.status is None and not diff.identical
    assert list(diff.code) == ["score"] and "+    return 20 / s" in diff.code["score"]
    assert str(diff.environment["python"]["version"]) == "'3.11' -> '3.12'"
    assert "-numpy 1.0" in diff.environment["numpy"] and "requirements" not in diff.environment
    assert diff.packages.added == {"newpkg": "2.0"} and diff.packages.removed == {"oldpkg": "0.1"}
    assert str(diff.packages.changed["numpy"]) == "'1.0' -> '2.0'"
    assert str(diff.git["commit"]) == "'abc' -> 'def'" and str(diff.git["dirty"]) == "False -> True"
    text = str(diff)
    for expected in (
        "Trial 1 -> trial 2 of experiment diffs",
        "Parameters:\n  b: 2 -> 3",
        "Seed: 1 -> 2",
        "Code:\n  step score:",
        "  added: newpkg 2.0",
        "  changed: numpy 1.0 -> 2.0",
        "Git:\n  commit: 'abc' -> 'def'",
    ):
        assert expected in text
    assert "Status" not in text and "Error" not in text  # empty parts are left out
    data = diff.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["parameters"] == {"b": {"a": 2, "b": 3}} and data["status"] is None


def test_diff_of_a_trial_with_itself_is_empty_and_says_so(two_trials):
    ex, _ = two_trials
    diff = ex.diff(2, 2)
    assert diff.identical and str(diff) == "Trial 2 -> trial 2 of experiment diffs: no differences"


def test_diff_of_an_unknown_trial_names_it(two_trials):
    ex, _ = two_trials
    with pytest.raises(xptrack.NotFoundError, match="no trial 7"):
        ex.diff(1, 7)


def test_export_writes_history_and_last_metric_values_in_every_format(two_trials, tmp_path):
    ex, _ = two_trials
    progress = []
    written = ex.export(tmp_path / "h.csv", lambda done, total: progress.append((done, total)))
    assert progress == [(1, 2), (2, 2)]
    csv = pd.read_csv(written, index_col="Trial ID")
    assert list(csv.index) == [1, 2] and csv.loc[1, "loss"] == pytest.approx(1 / (4 + 3))
    assert pd.isna(csv.loc[2, "loss"])  # trial 2's result step saved no metric
    assert csv.loc[2, "b"] == 3 and csv.loc[1, "Process Time"] > 0
    parquet = pd.read_parquet(ex.export(tmp_path / "h.parquet"))
    assert parquet.loc[1, "loss"] == csv.loc[1, "loss"] and parquet.loc[2, "Result"] == 5.0
    lines = (ex.export(tmp_path / "h.jsonl")).read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [row["Trial ID"] for row in rows] == [1, 2] and rows[1]["loss"] is None
    assert rows[0]["Seed"] == 1 and rows[0]["Started"].endswith("+00:00")


def test_export_refuses_an_unknown_suffix_naming_the_accepted_ones(two_trials, tmp_path):
    ex, _ = two_trials
    with pytest.raises(xptrack.InvalidArgument, match=r"'\.xlsx'.*\.csv, \.parquet, \.jsonl"):
        ex.export(tmp_path / "h.xlsx")


def test_rerun_of_a_deterministic_trial_is_identical(make_experiment):
    ex = make_experiment("again")
    s = build_session(ex, epochs=3)
    ex.set_parameters(a=1)
    s.compute(seed=5)
    ex.set_parameters(a=7, b=7)  # the rerun uses trial 1's values, not the current ones
    report = ex.rerun(1)  # through the result call computed last
    assert report.identical and report.rerun == 2 and report.persisted == {"features": True}
    assert ex.get_parameters(2) == {"a": 1, "b": 2} and ex.get_parameters()["a"] == 7
    assert str(report) == "Trial 1 reran as trial 2: identical (result and 1 persisted output(s))"


def test_rerun_with_no_result_call_computed_yet_says_what_to_pass(make_experiment):
    ex = make_experiment("fresh")
    build_session(ex, epochs=1)
    with pytest.raises(xptrack.InvalidArgument, match=r"pass it, ex\.rerun\(n, score\(\.\.\.\)\)"):
        ex.rerun(1)


def test_rerun_of_a_changed_step_is_not_identical_and_the_diff_names_it(make_experiment):
    ex = make_experiment("changed")
    s = build_session(ex, epochs=3)
    ex.set_parameters(a=1)
    s.compute(seed=5)

    @ex.persist
    def features(s):
        return [s] * 4

    report = ex.rerun(1, s)
    assert not report.identical and report.persisted == {"features": False}
    assert report.result_identical  # the result does not depend on the list's length
    assert list(report.diff.code) == ["features"]
    assert "differs: persisted features" in str(report) and "step features:" in str(report)


def test_same_value_is_about_bits_not_equality():
    assert same_value(1.0, 1.0) and same_value(float("nan"), float("nan"))
    assert not same_value(1, 1.0) and not same_value(0.0, -0.0) and not same_value((1,), [1])
    assert same_value(np.arange(3), np.arange(3)) and not same_value(np.arange(3), np.arange(3.0))


def test_code_splits_into_steps_with_their_decorators():
    code = "@ex\ndef a(x):\n    return x\n\n\n@ex.result\ndef b(y):\n\n    return y\n"
    assert split_steps(code) == {
        "a": "@ex\ndef a(x):\n    return x\n",
        "b": "@ex.result\ndef b(y):\n\n    return y\n",
    }
    assert split_steps("# source not available\n") == {"(code)": "# source not available\n"}


def test_package_changes_reads_freeze_lines():
    changes = package_changes("a==1\nb==2\n", "b==3\nc==1\n-e git+x#egg=d\n")
    assert changes.added == {"c": "1", "-e git+x#egg=d": "-e git+x#egg=d"}
    assert changes.removed == {"a": "1"} and str(changes.changed["b"]) == "'2' -> '3'"


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("3", 2, 3),
        ("1", 0.5, 1.0),
        ("1e-3", 0.5, 0.001),
        ("123", "name", "123"),
        ("true", False, True),
        ("[1, 2]", (0,), (1, 2)),
        ("foo", None, "foo"),
        ("[64,64]", xptrack.Undefined, [64, 64]),
    ],
)
def test_a_value_fits_the_type_of_its_default(text, default, expected):
    value = typed_value("p", text, default)
    assert same_value(value, expected)


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (["b=name"], "parameter b=name is not an int like its default 2"),
        (["b=2.5"], "parameter b=2.5 is not an int like its default 2"),
        (["c=1"], "unknown parameter 'c'; the experiment declares: a, b"),
        (["a"], "'a' is not name=value"),
        (["a=1", "a=2"], "parameter a is given twice"),
    ],
)
def test_a_value_that_does_not_fit_is_refused_naming_it(tokens, message):
    with pytest.raises(BadValue, match=message.replace(".", r"\.").replace("'", ".")):
        parameter_values(tokens, {"a": xptrack.Undefined, "b": 2})
