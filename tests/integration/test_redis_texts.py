"""Code and environment texts on Redis: kept once per content, counted, dropped when no trial
refers to them any more; per-trial keys in the seed's layout (the whole text) still read."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from tests.integration.test_redis_store import ENVIRONMENT
from xptrack.adapters.redis import RedisBackend, RedisExperimentStore
from xptrack.adapters.redis_texts import digest
from xptrack.domain.environment import EnvironmentSnapshot
from xptrack.domain.errors import CorruptRecord
from xptrack.domain.trial import TrialRecord, utcnow

pytestmark = pytest.mark.redis

CODE = "@ex\ndef prepare(a, b):\n    return a + b\n"
OTHER_CODE = "@ex\ndef prepare(a, b):\n    return a * b\n"


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture
def store(redis_backend: RedisBackend, redis_experiment_id: str) -> Iterator[RedisExperimentStore]:
    store = redis_backend.open(redis_experiment_id)
    yield store
    store.delete_experiment()


def text_keys(raw: redis.Redis, x: str) -> set[str]:
    return {key.decode() for key in raw.scan_iter(match=f"{x}:text:*")}


def counts(raw: redis.Redis, x: str) -> dict[str, int]:
    return {name.decode(): int(n) for name, n in raw.hgetall(f"{x}:text_refs").items()}


def start(store: RedisExperimentStore, code: str, environment: EnvironmentSnapshot) -> int:
    trial_id = store.next_trial_id()
    record = TrialRecord(trial_id, {"a": trial_id}, utcnow(), seed=1)
    store.save_trial_start(record, code, environment)
    return trial_id


def test_an_unchanged_environment_adds_no_text(store, raw, redis_experiment_id):
    x = redis_experiment_id
    trial_ids = [start(store, CODE, ENVIRONMENT) for _ in range(3)]

    texts = [CODE, *ENVIRONMENT.categories.values()]
    assert text_keys(raw, x) == {f"{x}:text:{digest(text)}" for text in texts}
    assert counts(raw, x) == {digest(text): 3 for text in texts}
    for trial_id in trial_ids:
        assert store.load_code(trial_id) == CODE
        assert store.load_environment(trial_id) == ENVIRONMENT
        reference = raw.get(f"{x}:code:{trial_id}")
        assert reference == b"\xfftext:" + digest(CODE).encode()


def test_counts_drop_to_zero_and_the_texts_vanish(store, raw, redis_experiment_id):
    x = redis_experiment_id
    first, second = start(store, CODE, ENVIRONMENT), start(store, CODE, ENVIRONMENT)
    store.save_code(second, OTHER_CODE)
    assert counts(raw, x)[digest(CODE)] == 1
    assert counts(raw, x)[digest(OTHER_CODE)] == 1

    store.delete_trial(first)
    assert digest(CODE) not in counts(raw, x)
    assert f"{x}:text:{digest(CODE)}" not in text_keys(raw, x)
    assert counts(raw, x) == {digest(t): 1 for t in [OTHER_CODE, *ENVIRONMENT.categories.values()]}

    smaller = EnvironmentSnapshot({"device": '{"system": "Linux"}'})
    store.save_environment(second, smaller)  # the categories it no longer has are released
    assert counts(raw, x) == {digest(OTHER_CODE): 1, digest('{"system": "Linux"}'): 1}
    assert store.load_environment(second) == smaller

    store.delete_trial(second)
    store.delete_trial(second)  # again: nothing is released twice
    assert text_keys(raw, x) == set()
    assert not raw.exists(f"{x}:text_refs")
    assert not raw.exists(f"{x}:code:{second}", f"{x}:device:{second}")


def test_a_repeated_write_changes_no_count(store, raw, redis_experiment_id):
    # What a retry after a dropped connection does: the same script again.
    trial_id = start(store, CODE, ENVIRONMENT)
    for _ in range(2):
        store.save_code(trial_id, CODE)
        store.save_environment(trial_id, ENVIRONMENT)
        store.save_trial_start(store.get_trial(trial_id), CODE, ENVIRONMENT)

    texts = [CODE, *ENVIRONMENT.categories.values()]
    assert counts(raw, redis_experiment_id) == {digest(text): 1 for text in texts}


def test_the_seed_layout_still_reads(store, raw, redis_experiment_id):
    # Written as earlier versions did: the whole text in each per-trial key.
    x = redis_experiment_id
    old, newer = store.next_trial_id(), store.next_trial_id()
    for trial_id in (old, newer):
        raw.set(f"{x}:code:{trial_id}", CODE)
        for category, text in ENVIRONMENT.categories.items():
            raw.set(f"{x}:{category}:{trial_id}", text)
        raw.set(f"{x}:environment:{trial_id}", json.dumps(list(ENVIRONMENT.categories)))

    assert store.load_code(old) == CODE
    assert store.load_environment(old) == ENVIRONMENT
    store.save_code(newer, OTHER_CODE)  # over a whole text: nothing to release
    assert store.load_code(newer) == OTHER_CODE
    assert counts(raw, x) == {digest(OTHER_CODE): 1}

    store.delete_trial(old)
    assert not raw.exists(f"{x}:code:{old}", f"{x}:device:{old}", f"{x}:environment:{old}")
    assert counts(raw, x) == {digest(OTHER_CODE): 1}
    assert store.load_environment(newer) == ENVIRONMENT


def test_a_reference_to_a_missing_text_is_a_corrupt_record(store, raw, redis_experiment_id):
    trial_id = start(store, CODE, ENVIRONMENT)
    raw.delete(f"{redis_experiment_id}:text:{digest(CODE)}")

    with pytest.raises(CorruptRecord, match="refers to a text that is not stored"):
        store.load_code(trial_id)
    assert store.load_environment(trial_id) == ENVIRONMENT


def test_experiments_keep_their_own_copy_of_a_text(redis_backend, raw, redis_experiment_id):
    one = redis_backend.open(redis_experiment_id)
    two = redis_backend.open(f"{redis_experiment_id}x")
    try:
        start(one, CODE, ENVIRONMENT)
        kept = start(two, CODE, ENVIRONMENT)
        one.delete_experiment()
        assert two.load_code(kept) == CODE
        assert counts(raw, f"{redis_experiment_id}x")[digest(CODE)] == 1
    finally:
        two.delete_experiment()
