"""Bad input: each mistake a user can make is a clear xptrack error, raised at once, that
says what was wrong and what is accepted, and leaves no partial record behind."""

from __future__ import annotations

import pathlib
import pickle
import re
import socket
import time
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import xptrack
from xptrack.errors import (
    CorruptRecord,
    InvalidArgument,
    InvalidBackend,
    InvalidName,
    NotFoundError,
    StoreUnavailable,
    UndefinedParameter,
    UnknownParameter,
    UnstorableValue,
)

#: Every refusal comes this fast, unreachable servers included.
BOUND_S = 5.0
#: The naming rule, as error messages state it.
RULE = r"letters, digits, '_', '-' and '\.', starting with a letter or digit"
#: How a message names the trials there are (the fixture's experiment has trials 1 and 2).
KNOWN_TRIALS = r"\b1(\.\.| to |-|, )2\b|last trial id\D{0,6}2\b"


@attrs.frozen
class World:
    """An experiment with two finished trials, on the local store in ``folder``."""

    ex: xptrack.Experiment
    result: Any  # score(prepare(a), features(prepare(a)))
    prepare: Any  # the plain step
    folder: pathlib.Path


@pytest.fixture
def world(tmp_path: pathlib.Path) -> World:
    folder = tmp_path / "store"
    ex = xptrack.Experiment("bad", backend=folder, capture_environment=False)
    a = ex.parameter("a")

    @ex
    def prepare(a):
        return a + 1

    @ex.persist
    def features(s):
        return [s] * 3

    @ex.result
    def score(s, f):
        ex.save_metric("loss", epoch=0, value=1 / s)
        return 10 / s

    result = score(prepare(a), features(prepare(a)))
    for value in (1, 2):
        ex.set_parameters(a=value)
        result.compute(seed=value)
    return World(ex, result, prepare, folder)


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def open_with(backend: Any) -> Callable[[World], Any]:
    return lambda w: xptrack.Experiment("fine", backend=backend, capture_environment=False)


def open_id(experiment_id: Any) -> Callable[[World], Any]:
    return lambda w: xptrack.Experiment(experiment_id, backend=w.folder, capture_environment=False)


def unreachable(uri: str) -> Callable[[World], Any]:
    """Open ``uri`` with ``{port}`` filled with a closed port (chosen when the test runs)."""
    return lambda w: open_with(uri.format(port=closed_port()))(w)


def with_mongo_client(w: World) -> Any:
    import pymongo

    with pymongo.MongoClient(f"mongodb://127.0.0.1:{closed_port()}/", connect=False) as client:
        return xptrack.Experiment("fine", backend=client)


def compute_with(**parameters: Any) -> Callable[[World], Any]:
    def run(w: World) -> Any:
        w.ex.set_parameters(**parameters)
        return w.result.compute()

    return run


def step_saving(key: Any, epoch: Any, value: Any) -> Callable[[World], Any]:
    """Run a trial whose result step saves one metric point."""

    def run(w: World) -> Any:
        @w.ex.result
        def saving(s):
            w.ex.save_metric(key, epoch=epoch, value=value)
            return s

        return saving(w.prepare(1)).compute()

    return run


def undefined_parameter(w: World) -> Any:
    z = w.ex.parameter("z")

    @w.ex.result
    def needs_z(z):
        return z

    return needs_z(z).compute()


def case(
    name: str,
    action: Callable[[World], Any],
    error: type[Exception],
    *said: str,
    failed_trial: bool = False,
) -> Any:
    """A row of the table: doing ``action`` raises ``error`` whose message matches every
    regex in ``said``; ``failed_trial`` when the mistake happens inside a running step (the
    trial is then recorded as failed with that error, as any failing trial is)."""
    return pytest.param(action, error, said, failed_trial, id=name)


CASES = [
    # experiment ids
    *(
        case(
            f"experiment id {bad!r}",
            open_id(bad),
            InvalidName,
            "experiment id",
            re.escape(repr(bad)),
            RULE,
        )
        for bad in ("../x", "a:b", "", "$x", None, "x" * 101)
    ),
    # step names, metric keys, parameter names
    case(
        "step name <lambda>",
        lambda w: w.ex.result(lambda s: s),
        InvalidName,
        "step name",
        "'<lambda>'",
        RULE,
    ),
    case(
        "persisted step name",
        lambda w: w.ex.get_persisted("../x", 1),
        InvalidName,
        "step name",
        r"'\.\./x'",
        RULE,
    ),
    case(
        "metric key to load",
        lambda w: w.ex.load_metric("a:b", 1),
        InvalidName,
        "metric key",
        "'a:b'",
        RULE,
    ),
    case(
        "metric key to save",
        lambda w: w.ex.save_metric("$x", 0, 1.0),
        InvalidName,
        "metric key",
        r"'\$x'",
        RULE,
    ),
    case(
        "metric key in a step",
        step_saving("a b", 0, 1.0),
        InvalidName,
        "metric key",
        "'a b'",
        RULE,
        failed_trial=True,
    ),
    case(
        "parameter name",
        lambda w: w.ex.parameter("a:b"),
        InvalidName,
        "parameter name",
        "'a:b'",
        RULE,
    ),
    case(
        "unknown parameter",
        lambda w: w.ex.set_parameters(nope=1),
        UnknownParameter,
        r"\['nope'\]",
        "declared.*: a",
    ),
    case(
        "unknown parameter in a sweep",
        lambda w: w.ex.run_trials(w.result, [{"a": 1}, {"nope": 1}]),
        UnknownParameter,
        r"\['nope'\]",
        "declared.*: a",
    ),
    case(
        "undefined parameter",
        undefined_parameter,
        UndefinedParameter,
        r"\['z'\]",
        r"ex\.set_parameters\(z=\.\.\.\)",
    ),
    # trial ids
    case(
        "trial id '1'",
        lambda w: w.ex.get_parameters("1"),
        InvalidArgument,
        "trial id",
        "str '1'",
        "positive int",
    ),
    case(
        "trial id 1.5",
        lambda w: w.ex.get_persisted("features", 1.5),
        InvalidArgument,
        "trial id",
        "float 1.5",
        "positive int",
    ),
    case(
        "trial id True",
        lambda w: w.ex.load_metric("loss", True),
        InvalidArgument,
        "trial id",
        "bool True",
        "positive int",
    ),
    case(
        "trial id 0",
        lambda w: w.ex.get_code(0),
        InvalidArgument,
        "trial id",
        r"\b0\b",
        "positive int",
    ),
    case(
        "trial ids ['1']",
        lambda w: w.ex.load_metric("loss", [1, "1"]),
        InvalidArgument,
        "trial id",
        "str '1'",
        "positive int",
    ),
    case(
        "no trial ids",
        lambda w: w.ex.load_metric("loss", []),
        InvalidArgument,
        "at least one trial id",
    ),
    case(
        "unknown trial: parameters",
        lambda w: w.ex.get_parameters(99),
        NotFoundError,
        r"\b99\b",
        KNOWN_TRIALS,
    ),
    case(
        "unknown trial: code", lambda w: w.ex.get_code(99), NotFoundError, r"\b99\b", KNOWN_TRIALS
    ),
    case(
        "unknown trial: persisted",
        lambda w: w.ex.get_persisted("features", 99),
        NotFoundError,
        r"\b99\b",
        KNOWN_TRIALS,
    ),
    case(
        "unknown trial: metric",
        lambda w: w.ex.load_metric("loss", [1, 99]),
        NotFoundError,
        r"\b99\b",
        KNOWN_TRIALS,
    ),
    # unknown metric keys, steps, categories
    case(
        "unknown metric key",
        lambda w: w.ex.load_metric("nope", 1),
        NotFoundError,
        "'nope'",
        r"saved in that trial: \['loss'\]",
    ),
    case(
        "step that never persisted",
        lambda w: w.ex.get_persisted("prepare", 1),
        NotFoundError,
        "'prepare'",
        "'features'",
    ),
    case(
        "step that does not exist",
        lambda w: w.ex.get_persisted("nosuch", 1),
        NotFoundError,
        "'nosuch'",
        "'features'",
    ),
    case(
        "unknown environment category",
        lambda w: w.ex.get_environment(1, category="gpu"),
        InvalidArgument,
        "'gpu'",
        "device, cpu, python",
    ),
    # what a trial is asked to run
    case(
        "sweep a plain step",  # (a plain step's own compute() gives its value: test_compose)
        lambda w: w.ex.run_trials(w.prepare(1), [{}]),
        InvalidArgument,
        "'prepare'",
        r"@ex\.result",
    ),
    case(
        "seed 'x'", lambda w: w.result.compute(seed="x"), InvalidArgument, "seed", "str 'x'", "int"
    ),
    case(
        "seed 1.5",
        lambda w: w.result.compute(seed=1.5),
        InvalidArgument,
        "seed",
        "float 1.5",
        "int",
    ),
    case(
        "sweep errors='ignore'",
        lambda w: w.ex.run_trials(w.result, [{"a": 1}], errors="ignore"),
        InvalidArgument,
        "'ignore'",
        "'raise' or 'return'",
    ),
    case(
        "lambda parameter",
        compute_with(a=lambda: 1),
        UnstorableValue,
        "function",
        "pickling it failed",
        "plain data",
    ),
    case(
        "metric epoch '1'",
        step_saving("loss", "1", 1.0),
        InvalidArgument,
        "epoch",
        "str '1'",
        "int",
        failed_trial=True,
    ),
    case(
        "metric epoch 1.5",
        step_saving("loss", 1.5, 1.0),
        InvalidArgument,
        "epoch",
        "float 1.5",
        "int",
        failed_trial=True,
    ),
    case(
        "metric value 'high'",
        step_saving("loss", 0, "high"),
        InvalidArgument,
        "value",
        "str 'high'",
        "real number",
        failed_trial=True,
    ),
    # backends
    case(
        "backend ftp://x",
        open_with("ftp://x"),
        InvalidBackend,
        "'ftp'",
        "accepted: .*pathlib.Path.*redis://.*mongodb://",
    ),
    case(
        "backend 'some/dir'",
        open_with("some/dir"),
        InvalidBackend,
        "'some/dir'",
        r"pass pathlib\.Path\('some/dir'\)",
    ),
    case(
        "backend 42",
        open_with(42),
        InvalidBackend,
        r"\bint\b",
        "accepted: .*pathlib.Path.*redis://.*mongodb://",
    ),
    case(
        "backend MongoClient",
        with_mongo_client,
        InvalidBackend,
        "MongoClient names no database",
        r"client\['my_db'\]",
    ),
    case(
        "backend mongodb:// without database",
        open_with("mongodb://127.0.0.1:1/"),
        InvalidBackend,
        "names no database",
        "mongodb://host:27017/<database>",
    ),
    case(
        "redis server unreachable",
        unreachable("redis://127.0.0.1:{port}/0"),
        StoreUnavailable,
        r"Redis at redis://127\.0\.0\.1:\d+/0",
    ),
    case(
        "mongodb server unreachable",
        unreachable("mongodb://127.0.0.1:{port}/db"),
        StoreUnavailable,
        r"MongoDB at mongodb://127\.0\.0\.1:\d+/db is unreachable",
    ),
]


def _files(root: pathlib.Path) -> set[str]:
    # SQLite's -wal/-shm files come and go with connections: they are not records.
    return {
        str(p.relative_to(root)) for p in root.rglob("*") if not p.name.endswith(("-wal", "-shm"))
    }


@pytest.mark.parametrize(("action", "error", "said", "failed_trial"), CASES)
def test_bad_input_is_a_clear_error_and_leaves_no_partial_record(
    world, tmp_path, action, error, said, failed_trial
):
    files = _files(tmp_path)
    started = time.monotonic()

    with pytest.raises(error) as raised:
        action(world)

    assert time.monotonic() - started < BOUND_S
    message = str(raised.value)
    for pattern in said:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    history = world.ex.get_history()
    if failed_trial:
        # A mistake inside a step fails its trial like any error: recorded, metrics kept out.
        assert len(history) == 3 and not history["Success"].iloc[-1]
        assert message in history["Description"].iloc[-1]
        assert world.ex.load_metric("loss", [1, 2]).shape == (1, 2)
        with pytest.raises(NotFoundError):
            world.ex.load_metric("loss", int(history.index[-1]))
    else:
        assert len(history) == 2 and history["Success"].all()
        assert _files(tmp_path) == files


def test_garbage_in_place_of_the_database_is_a_corrupt_record_naming_the_file(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    database = folder / "broken.db"
    database.write_bytes(b"\x00\xffnot a database at all\n" * 100)

    with pytest.raises(CorruptRecord) as raised:
        xptrack.Experiment("broken", backend=folder, capture_environment=False)

    assert str(database) in str(raised.value)
    assert database.read_bytes().startswith(b"\x00\xffnot a database")


class _Planted:
    """Unpickling this creates ``path`` (what a malicious pickle would do, harmlessly)."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.path,))


def test_a_daskperiment_pickle_in_the_folder_is_ignored_never_unpickled(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    marker = tmp_path / "unpickled"
    foreign = folder / "legacy.pkl"
    foreign.write_bytes(pickle.dumps(_Planted(marker)))

    ex = xptrack.Experiment("legacy", backend=folder, capture_environment=False)
    x = ex.parameter("x", default=2)

    @ex.result
    def double(x):
        return 2 * x

    assert ex.trial_id == 0
    assert double(x).compute() == 4
    assert list(
        xptrack.Experiment("legacy", backend=folder, capture_environment=False).get_history()[
            "Result"
        ]
    ) == [4]
    assert not marker.exists()
    assert foreign.read_bytes() == pickle.dumps(_Planted(marker))
