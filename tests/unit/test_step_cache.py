"""The step cache use-case on the in-memory store: reuse, run, signing, one run per key."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from xptrack.adapters.memory import MemoryExperimentStore
from xptrack.application.bootstrap import SIGNING_KEY_ENV, user_object_codec
from xptrack.application.purity import input_hash
from xptrack.application.runtime import StepKind, StepSpec
from xptrack.application.step_cache import InFlight, StepCache, cache_key
from xptrack.domain.step_cache import CachedOutput, is_cache_key, step_cache_key

KEY = step_cache_key("prep", "inputs", "code", 1)


class Calls:
    """A step function that counts its calls."""

    def __init__(self, value=None):
        self.count = 0
        self.value = value if value is not None else {"rows": [1, 2, 3]}

    def __call__(self):
        self.count += 1
        return self.value


def test_a_miss_runs_and_stores_then_a_hit_loads_without_running(caplog):
    store, prep = MemoryExperimentStore(), Calls()
    cache = StepCache(store, InFlight())
    first = cache.reuse_or_run("prep", KEY, 3, prep)
    assert (first.value, first.cached_from, prep.count) == (prep.value, None, 1)
    assert store.load_cached_output("prep", KEY) == CachedOutput(
        3, user_object_codec().dump(prep.value)
    )
    with caplog.at_level(logging.INFO, logger="xptrack"):
        second = cache.reuse_or_run("prep", KEY, 4, prep)
    assert (second.value, second.cached_from, prep.count) == (prep.value, 3, 1)
    assert second.data == first.data
    assert "step prep: reused output of trial 3" in caplog.messages


def test_a_failing_step_stores_nothing_and_runs_again():
    store, calls = MemoryExperimentStore(), []

    def failing():
        calls.append(1)
        raise ValueError("boom")

    cache = StepCache(store, InFlight())
    for _ in range(2):
        with pytest.raises(ValueError, match="boom"):
            cache.reuse_or_run("prep", KEY, 1, failing)
    assert len(calls) == 2 and store.load_cached_output("prep", KEY) is None


def test_an_unpicklable_output_is_used_but_not_cached(caplog):
    store = MemoryExperimentStore()
    output = Calls(threading.Lock())
    outcome = StepCache(store, InFlight()).reuse_or_run("prep", KEY, 1, output)
    assert outcome.value is output.value and outcome.data is None
    assert store.load_cached_output("prep", KEY) is None
    assert any("step prep: output not cached" in m for m in caplog.messages)


def test_signing_rule_applies_to_cached_outputs(monkeypatch, caplog):
    store, prep = MemoryExperimentStore(), Calls()
    StepCache(store, InFlight()).reuse_or_run("prep", KEY, 1, prep)  # stored unsigned
    monkeypatch.setenv(SIGNING_KEY_ENV, "secret")
    outcome = StepCache(store, InFlight()).reuse_or_run("prep", KEY, 2, prep)
    assert (outcome.cached_from, prep.count) == (None, 2), "an unsigned output was loaded"
    assert any("is not used" in m and "not signed" in m for m in caplog.messages)
    signed_key = step_cache_key("prep", "inputs", "code", 2)
    StepCache(store, InFlight()).reuse_or_run("prep", signed_key, 3, prep)
    assert StepCache(store, InFlight()).reuse("prep", signed_key).cached_from == 3
    monkeypatch.setenv(SIGNING_KEY_ENV, "another secret")
    assert StepCache(store, InFlight()).reuse("prep", signed_key) is None


def test_threads_missing_one_key_run_it_once():
    store, in_flight, callers = MemoryExperimentStore(), InFlight(), 8
    release, calls, outcomes = threading.Event(), [], []

    def prep():
        calls.append(1)
        assert release.wait(10), "the test never released the step"
        return [1, 2, 3]

    def trial(trial_id: int) -> None:
        outcomes.append(StepCache(store, in_flight).reuse_or_run("prep", KEY, trial_id, prep))

    threads = [threading.Thread(target=trial, args=(n,)) for n in range(1, callers + 1)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while in_flight.users(("prep", KEY)) < callers and time.monotonic() < deadline:
        time.sleep(0.001)  # polling a condition with a deadline, not a timing assumption
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1, f"{len(calls)} of {callers} threads ran the step"
    runner = next(o for o in outcomes if o.cached_from is None)
    assert sorted(o.cached_from or 0 for o in outcomes).count(0) == 1
    assert all(o.value == [1, 2, 3] for o in outcomes)
    assert {o.cached_from for o in outcomes if o is not runner} == {
        store.load_cached_output("prep", KEY).trial_id
    }
    assert len(in_flight) == 0, "the in-flight table keeps keys nobody holds"


def test_cache_keys_name_step_inputs_code_and_seed():
    key = cache_key("prep", "inputs", "fingerprint", 7)
    assert is_cache_key(key) and key == cache_key("prep", "inputs", "fingerprint", 7)
    others = [
        cache_key("other", "inputs", "fingerprint", 7),
        cache_key("prep", "other inputs", "fingerprint", 7),
        cache_key("prep", "inputs", "changed", 7),
        cache_key("prep", "inputs", "fingerprint", 8),
    ]
    assert key not in others and len(set(others)) == len(others)


def test_inputs_dask_cannot_hash_are_not_cached(caplog):
    class Opaque:
        def __reduce__(self):
            raise TypeError("no")

    spec = StepSpec("opaque_step", StepKind.PLAIN, len, "code")
    for _ in range(2):
        inputs = input_hash(spec, (Opaque(),), {}, 1)
        assert inputs is None and cache_key("opaque_step", inputs, "f", 1) is None
    assert input_hash(spec, ([1, 2],), {"x": 1}, 1) == input_hash(spec, ([1, 2],), {"x": 1}, 1)
    assert input_hash(spec, ([1, 2],), {"x": 1}, 1) != input_hash(spec, ([1, 2],), {"x": 1}, 2)
    warnings = [m for m in caplog.messages if "step opaque_step: not cached" in m]
    assert len(warnings) == 1, "the warning is not given once per step"
