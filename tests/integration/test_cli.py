"""The ``xptrack`` command and script mode, run as a user runs them: real processes, local store."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pathlib
import runpy
import selectors
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

from xptrack.application.cli import main

SCRIPT = textwrap.dedent(
    """
    import pathlib
    import xptrack

    ex = xptrack.Experiment('quickstart', backend=pathlib.Path('store'))
    a = ex.parameter('a')
    b = ex.parameter('b', default=2)

    @ex
    def prepare(a, b):
        return a + b

    @ex.persist
    def features(s):
        return [s] * 3

    @ex.result
    def score(s, f):
        for i in range(10):
            ex.save_metric('loss', epoch=i, value=1 / (i + s))
        return 10 / s

    s = score(prepare(a, b), features(prepare(a, b)))
    if __name__ == '__main__':
        ex.main(s)
    """
)
COMMANDS = ("ls", "history", "show", "diff", "export", "copy", "delete", "tag", "note")
COMMANDS += ("dashboard", "run", "rerun")


def run(*args: str, cwd: pathlib.Path, columns: int = 100) -> subprocess.CompletedProcess[str]:
    """``args`` run as a process in ``cwd`` (``xptrack`` is the installed console script)."""
    if args[0] == "xptrack":
        args = (str(pathlib.Path(sys.executable).with_name("xptrack")), *args[1:])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": str(columns)}
    env.pop("XPTRACK_BACKEND", None)
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False, env=env
    )


def xptrack(*args: str, cwd: pathlib.Path, columns: int = 100) -> subprocess.CompletedProcess[str]:
    return run("xptrack", "--backend", "store", *args, cwd=cwd, columns=columns)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A folder with session.py and its store holding trials 1 (b=2), 2 (b=3), 3 (failed),
    made once for the module (trials run in this process: faster than three processes)."""
    folder = tmp_path_factory.mktemp("cli")
    script = folder / "session.py"
    script.write_text(SCRIPT)
    previous = os.getcwd()
    os.chdir(folder)  # the script's store is ./store
    try:
        namespace = runpy.run_path(str(script), run_name="session")
        ex, s = namespace["ex"], namespace["s"]
        ex.set_parameters(a=1)
        s.compute(seed=1)
        ex.set_parameters(b=3)
        s.compute(seed=2)
        ex.set_parameters(a=-3)
        with pytest.raises(ZeroDivisionError):
            s.compute(seed=3)
    finally:
        os.chdir(previous)
    return folder


@pytest.fixture
def recorded(prepared: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    """A copy of :func:`prepared` of this test's own, which the test may change."""
    copy_store_folder(prepared, tmp_path)
    return tmp_path


def copy_store_folder(source: pathlib.Path, destination: pathlib.Path) -> None:
    """Copy a folder whose SQLite databases may still be open: each database through SQLite's
    backup (a consistent snapshot, its WAL included), the rest as files. A plain copy races
    with the WAL file, which SQLite removes when the last connection closes (at any GC)."""
    databases = ("*.db", "*.db-wal", "*.db-shm")
    ignore = shutil.ignore_patterns(*databases)
    shutil.copytree(source, destination, dirs_exist_ok=True, ignore=ignore)
    for database in source.rglob("*.db"):
        target = destination / database.relative_to(source)
        with (
            contextlib.closing(sqlite3.connect(database)) as original,
            contextlib.closing(sqlite3.connect(target)) as copy,
        ):
            original.backup(copy)


def test_help_lists_every_command_and_python_m_is_the_same_program(tmp_path):
    done = run("xptrack", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.split("Commands:")[1].splitlines() if line}
    assert listed == set(COMMANDS)
    version = run(sys.executable, "-m", "xptrack", "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == "xptrack 0.1.0"


def test_the_store_can_come_from_xptrack_backend(recorded):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "XPTRACK_BACKEND": "store"}
    command = [str(pathlib.Path(sys.executable).with_name("xptrack")), "history", "quickstart"]
    command += ["--format", "csv"]
    done = subprocess.run(command, cwd=recorded, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 4  # the header and trials 1-3 of ./store


def test_history_fits_the_terminal_and_filters_sorts_and_formats(recorded):
    done = xptrack("history", "quickstart", cwd=recorded, columns=60)
    assert done.returncode == 0, done.stderr
    assert all(len(line) <= 60 for line in done.stdout.splitlines())
    assert "quickstart: 3 trial(s)" in done.stdout and "not shown (too narrow)" in done.stdout
    done = xptrack(
        "history", "quickstart", "--where", "b == 3 and Success", "--format", "csv", cwd=recorded
    )
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(row["Trial ID"], row["b"], row["Result"]) for row in rows] == [("2", "3", "2.5")]
    done = xptrack(
        "history", "quickstart", "--sort", "a", "--desc", "--last", "2", "--format", "json",
        "--full", cwd=recorded,
    )  # fmt: skip
    rows = json.loads(done.stdout)
    assert [row["Trial ID"] for row in rows] == [2, 3] and rows[1]["Status"] == "failed"
    assert rows[0]["Seed"] == 2 and isinstance(rows[0]["Process Time"], float)


def test_show_prints_one_trial_with_its_metrics_and_persisted_outputs(recorded):
    done = xptrack("show", "quickstart", "2", cwd=recorded)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Trial 2 of experiment quickstart: finished"
    assert "Result:       2.5 (float)" in lines and "Seed:         2" in lines
    assert "  a = 1" in lines and "  b = 3" in lines and "Persisted:    features" in lines
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines]
    assert ["loss", "10", "0..9", "0.0769231", "0.0769231", "0.25"] in cells
    assert "Steps:" in lines and any(line.startswith("  score   ") for line in lines)
    failed = xptrack("show", "quickstart", "3", cwd=recorded)
    assert "Trial 3 of experiment quickstart: failed" in failed.stdout
    assert "Error:        ZeroDivisionError: division by zero" in failed.stdout
    traceback = failed.stdout.split("Traceback:\n")[1]
    assert ", in score" in traceback and "ZeroDivisionError: division by zero" in traceback


def test_diff_prints_the_report_and_json(recorded):
    done = xptrack("diff", "quickstart", "1", "2", cwd=recorded)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Trial 1 -> trial 2 of experiment quickstart\n")
    assert (
        "Parameters:\n  b: 2 -> 3\nSeed: 1 -> 2\nResult: 3.3333333333333335 -> 2.5" in done.stdout
    )
    data = json.loads(
        xptrack("diff", "quickstart", "1", "3", "--format", "json", cwd=recorded).stdout
    )
    assert data["status"] == {"a": "finished", "b": "failed"} and data["parameters"]["a"]["b"] == -3


def test_export_writes_the_history_with_last_metric_values(recorded):
    done = xptrack("export", "quickstart", "-o", "history.jsonl", cwd=recorded)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Exported experiment quickstart to history.jsonl"
    rows = [json.loads(line) for line in (recorded / "history.jsonl").read_text().splitlines()]
    assert [row["loss"] for row in rows[:2]] == [1 / (9 + 3), 1 / (9 + 4)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bogus"], "No such command 'bogus'"),
        (["history"], "Missing argument 'EXPERIMENT'"),
        (["history", "quickstart", "--colour"], "No such option '--colour'"),
        (["show", "quickstart", "0"], "a trial id is a positive integer (1, 2, ...); got '0'"),
        (["show", "quickstart", "9"], "no trial 9 in experiment quickstart"),
        (["diff", "quickstart", "1", "9"], "no trial 9 in experiment 'quickstart'"),
        (["history", "quickstart", "--where", "b >"], "where 'b >' cannot be evaluated"),
        (["history", "quickstart", "--where", "a.__class__"], "uses '__' or '@'"),
        (["history", "quickstart", "--sort", "zzz"], "no column 'zzz'; columns: Trial ID, a, b"),
        (["export", "quickstart", "-o", "h.xlsx"], "unknown suffix '.xlsx'"),
        (["delete", "quickstart", "1", "7", "--yes"], "no trial 7 in experiment quickstart"),
        (["--backend", "ftp://x", "history", "quickstart"], "unknown backend URI scheme 'ftp'"),
    ],
)
def test_a_usage_mistake_is_one_line_and_exit_2(recorded, capsys, argv, message):
    code = main(["--backend", "store", *argv] if argv[0] != "--backend" else argv)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1 and captured.err.startswith("xptrack: error: ")
    assert message in captured.err and "Traceback" not in captured.err


def test_xptrack_alone_prints_the_help(capsys):
    assert main([]) == 2
    assert "Commands:\n" in capsys.readouterr().err


def test_a_usage_mistake_in_a_real_process_is_one_line_too(recorded):
    done = xptrack("show", "quickstart", "x", cwd=recorded)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "xptrack: error: Invalid value for 'N': a trial id is a positive integer (1, 2, ...); "
        "got 'x'\n"
    )


def test_script_help_lists_its_parameters_with_defaults(recorded):
    done = run(sys.executable, "session.py", "--help", cwd=recorded)
    assert done.returncode == 0, done.stderr
    assert "Parameters (NAME=VALUE):" in done.stdout
    assert "a  required (no default)" in done.stdout and "b  default 2" in done.stdout
    done = xptrack("run", "session.py", "--help", cwd=recorded)
    assert "b  default 2" in done.stdout and "Usage: xptrack run session.py" in done.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["b=3"], "missing parameter(s) a: give a=VALUE"),
        (["a=1", "c=2"], "unknown parameter 'c'; the experiment declares: a, b"),
        (["a=1", "b=name"], "parameter b=name is not an int like its default 2"),
        (["a=1", "--seed", "x"], "Invalid value for '--seed': 'x' is not a valid integer."),
    ],
)
def test_script_mode_usage_errors_name_the_parameter_and_exit_2(recorded, arguments, message):
    done = run(sys.executable, "session.py", *arguments, cwd=recorded)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == f"session.py: error: {message}"
    assert "Traceback" not in done.stderr


def test_xptrack_run_runs_one_trial_and_a_failure_is_one_line_with_the_trial_id(recorded):
    done = run("xptrack", "run", "session.py", "a=2", "b=2", "--seed", "4", cwd=recorded)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2.5"
    failed = run("xptrack", "run", "session.py", "a=-2", cwd=recorded)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr.splitlines()[-1] == (
        "xptrack: error: trial 5 of experiment quickstart failed: "
        "ZeroDivisionError: division by zero (traceback: xptrack show quickstart 5)"
    )


def test_rerun_reports_identical_then_explains_a_changed_step(recorded):
    done = run("xptrack", "rerun", "session.py", "1", cwd=recorded)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "Trial 1 reran as trial 4: identical (result and 1 persisted output(s))"
    )
    script = recorded / "session.py"
    script.write_text(script.read_text().replace("return [s] * 3", "return [s] * 4"))
    done = run("xptrack", "rerun", "session.py", "1", cwd=recorded)
    assert done.returncode == 1, done.stderr
    assert "Trial 1 reran as trial 5: NOT identical (differs: persisted features)" in done.stdout
    assert "step features:" in done.stdout and "+    return [s] * 4" in done.stdout


def test_dashboard_serves_until_interrupted(recorded):
    command = [str(pathlib.Path(sys.executable).with_name("xptrack")), "--backend", "store"]
    command += ["dashboard", "quickstart", "--port", "0"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # A suite run as a background job inherits SIGINT ignored, and Python then keeps ignoring it:
    # the child gets the default disposition back, as a terminal would give it.
    process = subprocess.Popen(
        command,
        cwd=recorded,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_interruptible,
    )
    try:
        line = _first_line(process, deadline=time.monotonic() + 60)
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url + "api/experiments", timeout=10) as answer:
            assert answer.status == 200 and "quickstart" in answer.read().decode()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()


def _interruptible() -> None:
    """In the child before exec: SIGINT back to its default, so Python turns it into Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _first_line(process: subprocess.Popen[str], deadline: float) -> str:
    """The first line the process prints, waiting at most until ``deadline``."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                return process.stdout.readline()
    raise AssertionError("the dashboard printed nothing before the deadline")


def test_ls_tag_note_and_delete_on_the_local_store(recorded):
    listed = xptrack("ls", cwd=recorded)
    assert listed.returncode == 0, listed.stderr
    cells = [
        [cell.strip() for cell in line.split("│")[1:-1]] for line in listed.stdout.splitlines()
    ]
    assert ["quickstart", "3", "2", "1", "0", "0"] in [row[:6] for row in cells]
    assert xptrack("tag", "quickstart", "1", "best", "baseline", cwd=recorded).returncode == 0
    assert xptrack("note", "quickstart", "1", "first try", cwd=recorded).returncode == 0
    assert xptrack("tag", "quickstart", "1", "baseline", "--remove", cwd=recorded).returncode == 0
    rows = json.loads(
        xptrack("history", "quickstart", "--full", "--format", "json", cwd=recorded).stdout
    )
    assert (rows[0]["Tags"], rows[0]["Note"]) == (["best"], "first try")
    shown = xptrack("show", "quickstart", "1", cwd=recorded).stdout.splitlines()
    assert "Tags:         best" in shown and "Note:         first try" in shown
    refused = xptrack("delete", "quickstart", "2", cwd=recorded)  # no answer on stdin: no
    assert refused.returncode == 1 and "Nothing deleted." in refused.stderr
    done = xptrack("delete", "quickstart", "2", "3", "--yes", cwd=recorded)
    assert done.returncode == 0 and done.stdout.strip() == (
        "Deleted trial(s) 2, 3 of experiment quickstart"
    )
    rows = json.loads(xptrack("history", "quickstart", "--format", "json", cwd=recorded).stdout)
    assert [row["Trial ID"] for row in rows] == [1]
    assert xptrack("delete", "quickstart", "--yes", cwd=recorded).returncode == 0
    gone = xptrack("history", "quickstart", cwd=recorded)
    assert gone.returncode == 2 and gone.stderr == (
        "xptrack: error: Invalid value for EXPERIMENT: no experiment 'quickstart' in store; "
        "its experiments: none\n"
    )
