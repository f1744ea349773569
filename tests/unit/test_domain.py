"""Domain rules: names, trial transitions, metric series, snapshots, code context, seeds."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from xptrack.domain.code import CodeContext
from xptrack.domain.environment import EnvironmentSnapshot
from xptrack.domain.metric import MetricSeries, check_epoch, check_metric_value
from xptrack.domain.names import validate_name, validate_trial_id
from xptrack.domain.seeding import SEED_LIMIT, derive_step_seed
from xptrack.domain.trial import HEARTBEAT_STALE, StepRecord, TrialRecord, TrialStatus
from xptrack.errors import InvalidArgument, InvalidName

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("name", ["a", "A1", "loss", "my-exp.v2_1", "9lives", "x" * 100])
def test_valid_names_are_accepted(name):
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "../x", "a:b", "$x", "_a", "-a", ".a", "a b", "a/b", "é", "x" * 101, None, 3, b"a"]
)
def test_invalid_names_are_refused_with_the_rule(name):
    with pytest.raises(InvalidName, match="letters, digits"):
        validate_name(name, "experiment id")


def test_invalid_name_is_also_a_value_error():
    with pytest.raises(ValueError):
        validate_name("a:b")


@pytest.mark.parametrize("value", [0, -1, 1.0, "1", True, None])
def test_trial_ids_must_be_positive_ints(value):
    with pytest.raises(InvalidArgument, match="trial id"):
        validate_trial_id(value)


def test_numpy_integers_are_trial_ids():
    assert validate_trial_id(np.int64(3)) == 3


def test_trial_success_and_failure_transitions():
    record = TrialRecord(1, {"a": 1}, NOW, seed=5)
    assert record.status is TrialStatus.RUNNING and not record.success
    done = record.succeeded(2.5, NOW, 0.1)
    assert done.success and done.result == 2.5 and done.result_type == "float"
    failed = record.failed(ValueError("bad input"), NOW, 0.2)
    assert not failed.success and failed.description == "ValueError: bad input"
    assert failed.status is TrialStatus.FAILED


def test_status_values_and_legacy_succeeded_reads_as_finished():
    assert [status.value for status in TrialStatus] == [
        "running",
        "finished",
        "failed",
        "interrupted",
    ]
    assert TrialStatus("succeeded") is TrialStatus.FINISHED
    with pytest.raises(ValueError):
        TrialStatus("done")


def test_a_running_trial_with_a_stale_heartbeat_reads_interrupted():
    beat = NOW + dt.timedelta(seconds=30)
    record = TrialRecord(1, {}, NOW, heartbeat=beat)
    assert record.effective_status(beat + HEARTBEAT_STALE) is TrialStatus.RUNNING
    late = beat + HEARTBEAT_STALE + dt.timedelta(microseconds=1)
    assert record.effective_status(late) is TrialStatus.INTERRUPTED
    assert record.renewed(late).effective_status(late) is TrialStatus.RUNNING
    # No heartbeat yet (a record written before heartbeats): its start is the last sign.
    assert TrialRecord(1, {}, NOW).effective_status(late) is TrialStatus.INTERRUPTED
    short = dt.timedelta(seconds=1)
    assert record.effective_status(beat + 2 * short, stale=short) is TrialStatus.INTERRUPTED
    # Ended trials keep their status, however old.
    ended = record.succeeded(1, beat, 1.0)
    assert ended.effective_status(late + dt.timedelta(days=9)) is TrialStatus.FINISHED


def test_step_records_know_their_duration_and_trials_keep_them():
    step = StepRecord("prepare", NOW, NOW + dt.timedelta(seconds=1.5), cached_from=2)
    assert step.duration == dt.timedelta(seconds=1.5)
    record = TrialRecord(1, {}, NOW).failed(ValueError("x"), NOW, 1.0, "Traceback ...", [step])
    assert record.steps == (step,) and record.traceback == "Traceback ..."
    assert record.tags == () and record.note == "" and record.heartbeat is None


def test_result_type_names_the_module_of_non_builtins():
    assert TrialRecord(1, {}, NOW).succeeded(np.float64(1), NOW, 0).result_type == "numpy.float64"


def test_metric_series_equality_treats_nan_as_equal():
    assert MetricSeries([1, 2], [math.nan, 1.0]) == MetricSeries([1, 2], [math.nan, 1.0])
    assert MetricSeries([1, 2], [math.nan, 1.0]) != MetricSeries([1, 2], [0.0, 1.0])
    assert MetricSeries([1], [1.0]) != MetricSeries([1, 2], [1.0, 1.0])


@pytest.mark.parametrize("epoch", [1.5, "1", True, None])
def test_metric_epoch_must_be_int(epoch):
    with pytest.raises(InvalidArgument, match="epoch must be an int"):
        check_epoch(epoch)


@pytest.mark.parametrize("value", ["1", None, [1], True])
def test_metric_value_must_be_real(value):
    with pytest.raises(InvalidArgument, match="real number"):
        check_metric_value(value)


def test_snapshot_refuses_unknown_categories_and_reports_changes():
    with pytest.raises(InvalidArgument, match="accepted: device, cpu"):
        EnvironmentSnapshot({"gpu": "{}"})
    before = EnvironmentSnapshot({"requirements": "a==1\nb==1\n", "cpu": "{}"})
    after = EnvironmentSnapshot({"requirements": "a==1\nb==2\n", "cpu": "{}"})
    changes = after.changes_since(before)
    assert list(changes) == ["requirements"]
    assert "-b==1" in changes["requirements"] and "+b==2" in changes["requirements"]


def test_code_context_names_changed_steps():
    before = CodeContext({"f": "def f():\n    return 1\n", "g": "def g():\n    pass\n"})
    after = CodeContext({"f": "def f():\n    return 2\n", "g": "def g():\n    pass\n"})
    assert after.changed_steps(before.text) == ["f"]
    assert before.text.count("def ") == 2


def test_step_seeds_depend_on_trial_seed_and_step_name_only():
    assert derive_step_seed(1, "a") == derive_step_seed(1, "a")
    assert derive_step_seed(1, "a") != derive_step_seed(1, "b")
    assert derive_step_seed(1, "a") != derive_step_seed(2, "a")
    assert 0 <= derive_step_seed(123, "x") < SEED_LIMIT


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("redis://user:pw@h:1/0?password=x&db=2", "redis://user:***@h:1/0?password=***&db=2"),
        ("unix://:pw@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),
        (
            "mongodb://ann:p%40ss@a:1,b:2/lab?authSource=admin",
            "mongodb://ann:***@a:1,b:2/lab?authSource=admin",
        ),
        ("rediss://localhost:6380/0", "rediss://localhost:6380/0"),
        ("ftp://token@host/x", "ftp://token@host/x"),
    ],
)
def test_urls_lose_their_passwords_and_keep_the_rest(url, shown):
    from xptrack.domain.redaction import redact_url

    assert redact_url(url) == shown


def test_scrub_removes_every_form_of_a_secret():
    from xptrack.domain.redaction import scrub

    assert scrub("auth p@ss failed (p%40ss)", "p@ss") == "auth *** failed (***)"
    assert scrub("nothing to hide", None) == "nothing to hide"
