"""The API.md session on the local store, as a user runs it: files, processes, script mode."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import xptrack

SESSION = textwrap.dedent(
    """
    import sys
    import xptrack

    ex = xptrack.Experiment('quickstart', backend={backend})
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
        for i in range(100):
            ex.save_metric('loss', epoch=i, value=1 / (i + s))
        return 10 / s

    s = score(prepare(a, b), features(prepare(a, b)))
    """
)


def write_session(folder: pathlib.Path, backend: str = "None", tail: str = "") -> pathlib.Path:
    script = folder / "session.py"
    script.write_text(SESSION.format(backend=backend) + textwrap.dedent(tail))
    return script


def run_python(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return run_command(sys.executable, *args, cwd=cwd)


def run_command(*command: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False, env=env
    )


def test_session_runs_as_written_and_lands_in_the_seed_layout(tmp_path):
    script = write_session(
        tmp_path,
        tail="""
        ex.set_parameters(a=1, b=2)
        print(s.compute())
        ex.set_parameters(b=3)
        print(s.compute(seed=1))
        """,
    )
    done = run_python(str(script), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(10 / 3), "2.5"]
    assert (
        "Initialized new experiment: Experiment(id: quickstart, trial_id: 0, "
        "backend: LocalBackend('xptrack_cache/quickstart'))" in done.stderr
    )
    assert (
        "Started Experiment (trial id=1)" in done.stderr
        and "Finished Experiment (trial id=2)" in done.stderr
    )
    root = tmp_path / "xptrack_cache" / "quickstart"
    assert (root / "quickstart.db").is_file()
    assert (root / "code" / "quickstart_1.py").read_text().count("def ") == 3
    assert (root / "persist" / "quickstart_features_2.pkl").is_file()
    for category, extension in xptrack.domain.CATEGORY_FORMATS.items():
        assert (root / "environment" / f"{category}_quickstart_2.{extension}").is_file(), category
    json.loads((root / "environment" / "device_quickstart_1.json").read_text())


def test_a_second_process_sees_the_same_experiment(tmp_path):
    first = write_session(tmp_path, tail="ex.set_parameters(a=1)\ns.compute(seed=5)\n")
    assert run_python(str(first), cwd=tmp_path).returncode == 0
    ex = xptrack.Experiment("quickstart")
    assert ex.trial_id == 1
    history = ex.get_history(verbose=True)
    assert history.loc[1, "a"] == 1 and history.loc[1, "Seed"] == 5 and history.loc[1, "Success"]
    assert ex.get_parameters(1) == {"a": 1, "b": 2}
    assert ex.load_metric("loss", 1).loc[99, 1] == pytest.approx(1 / 102)
    assert ex.get_persisted("features", 1) == [3, 3, 3]
    assert "def score(s, f):" in ex.get_code(1)
    assert any(line.startswith("dask==") for line in ex.get_python_packages(1))


def test_custom_path_backend(tmp_path):
    ex = xptrack.Experiment("custom", backend=pathlib.Path("my_dir"))
    assert repr(ex.backend) == "LocalBackend('my_dir')"
    assert (tmp_path / "my_dir" / "custom.db").is_file()


def test_failing_trial_and_undefined_parameter(tmp_path):
    ex = xptrack.Experiment("failing")
    x = ex.parameter("x")

    @ex.result
    def inverse(x):
        return 1 / x

    with pytest.raises(xptrack.UndefinedParameter, match="'x'"):
        inverse(x).compute()
    assert ex.trial_id == 0
    ex.set_parameters(x=0)
    with pytest.raises(ZeroDivisionError):
        inverse(x).compute()
    ex.set_parameters(x=2)
    assert inverse(x).compute() == 0.5
    history = xptrack.Experiment("failing").get_history()
    assert list(history["Success"]) == [False, True]
    assert history.loc[1, "Description"] == "ZeroDivisionError: division by zero"


@pytest.mark.parametrize("bad", ["../x", "a:b", "", "$x", None])
def test_bad_experiment_ids_create_nothing(tmp_path, bad):
    with pytest.raises(xptrack.InvalidName, match="letters, digits"):
        xptrack.Experiment(bad)
    assert not (tmp_path / "xptrack_cache").exists()


def test_script_mode_through_ex_main(tmp_path):
    script = write_session(tmp_path, tail="if __name__ == '__main__':\n    ex.main(s)\n")
    done = run_python(str(script), "a=1", "b=4", "--seed", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr(2.0)
    history = xptrack.Experiment("quickstart").get_history(verbose=True)
    assert history.loc[1, "b"] == 4 and history.loc[1, "Seed"] == 3
    bad = run_python(str(script), "a", cwd=tmp_path)
    assert bad.returncode == 2 and "is not name=value" in bad.stderr


def test_xptrack_run_builds_the_graph_and_runs_one_trial(tmp_path):
    script = write_session(tmp_path)
    run = (str(pathlib.Path(sys.executable).with_name("xptrack")), "run", str(script))
    done = run_command(*run, "a=2", "b=name", "--seed", "1", cwd=tmp_path)
    # b='name' is not an int like b's default: a usage error, and no trial is recorded.
    assert done.returncode == 2 and "b=name is not an int" in done.stderr
    done = run_command(*run, "a=2", "--seed", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr(2.5)
    history = xptrack.Experiment("quickstart").get_history()
    assert list(history["Success"]) == [True] and history.loc[1, "b"] == 2


def test_importing_a_script_runs_no_trial(tmp_path):
    write_session(tmp_path)
    done = run_python("-c", "import session", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert xptrack.Experiment("quickstart").trial_id == 0


def test_experiments_whose_files_could_collide_do_not_share_a_folder(tmp_path):
    shared = pathlib.Path("shared")
    xptrack.Experiment("exp", backend=shared, capture_environment=False)
    with pytest.raises(xptrack.ConflictError, match=r"'exp_1' cannot share folder shared.*'exp'"):
        xptrack.Experiment("exp_1", backend=shared, capture_environment=False)
    neighbour = xptrack.Experiment("exp-1", backend=shared, capture_environment=False)
    assert neighbour.trial_id == 0 and not (tmp_path / "shared" / "exp_1.db").exists()
