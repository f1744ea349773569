"""The slow environment categories, kept per environment across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import pytest

from xptrack.adapters import environment_cache, environment_probes
from xptrack.adapters.environment_cache import load, readings
from xptrack.adapters.environment_keys import CACHED_CATEGORIES, category_keys
from xptrack.adapters.environment_probes import installed_distributions

REQUIREMENTS = "numpy==2.0.0\npandas==2.2.0\npy-cpuinfo==9.0.0\nscipy==1.14.0\n"


@pytest.fixture
def probed(monkeypatch):
    """Category -> how often its real probe ran (a spy around the real probes)."""
    counts = dict.fromkeys(environment_probes.PROBES, 0)
    for category, real in list(environment_probes.PROBES.items()):

        def counted(category=category, real=real):
            counts[category] += 1
            return real()

        monkeypatch.setitem(environment_probes.PROBES, category, counted)
    return counts


def plant(folder, category, key, text, age=0.0):
    environment_cache.store(folder, category, key, text)
    path = next(folder.glob(f"{category}-{key[:40]}.json"))
    document = json.loads(path.read_text())
    document["probed_at"] -= age
    path.write_text(json.dumps(document))


def test_readings_are_probed_once_then_read_back(tmp_path, probed):
    requirements = installed_distributions()

    first = readings(tmp_path, requirements)
    second = readings(tmp_path, requirements)

    assert first == second
    assert set(first) == set(CACHED_CATEGORIES)
    assert {category: probed[category] for category in CACHED_CATEGORIES} == dict.fromkeys(
        CACHED_CATEGORIES, 1
    )
    assert "brand_raw" in json.loads(first["cpu"])


def test_without_a_folder_every_call_probes(probed):
    readings(None, REQUIREMENTS)
    readings(None, REQUIREMENTS)

    assert probed["pandas"] == 2


def test_a_failed_probe_is_not_kept(tmp_path, monkeypatch):
    def broken():
        raise RuntimeError("no cpuid here")

    monkeypatch.setitem(environment_probes.PROBES, "cpu", broken)
    keys = category_keys(REQUIREMENTS)

    texts = readings(tmp_path, REQUIREMENTS)

    assert "cpu probe failed: RuntimeError: no cpuid here" in texts["cpu"]
    assert load(tmp_path, "cpu", keys["cpu"]) is None
    assert load(tmp_path, "scipy", keys["scipy"]) is not None


def test_a_corrupt_reading_is_probed_again_and_replaced(tmp_path, probed):
    keys = category_keys(REQUIREMENTS)
    plant(tmp_path, "scipy", keys["scipy"], "scipy config\n")
    next(tmp_path.glob("scipy-*.json")).write_text("{not json")

    texts = readings(tmp_path, REQUIREMENTS)

    assert probed["scipy"] == 1
    assert load(tmp_path, "scipy", keys["scipy"]).text == texts["scipy"] != "scipy config\n"


def test_each_key_changes_with_what_its_reading_depends_on(monkeypatch):
    before = category_keys(REQUIREMENTS)
    other_numpy = category_keys(REQUIREMENTS.replace("numpy==2.0.0", "numpy==2.1.0"))
    extra_package = category_keys(REQUIREMENTS + "tqdm==4.0\n")
    monkeypatch.setenv("NPY_DISABLE_CPU_FEATURES", "AVX512F")
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    other_variables = category_keys(REQUIREMENTS)

    assert other_numpy["numpy"] != before["numpy"]
    assert other_numpy["cpu"] == before["cpu"]
    assert other_numpy["pandas"] != before["pandas"]  # it prints its dependencies' versions
    assert extra_package["pandas"] != before["pandas"]
    assert {c: extra_package[c] for c in ("cpu", "numpy", "scipy", "conda")} == {
        c: before[c] for c in ("cpu", "numpy", "scipy", "conda")
    }
    assert other_variables["numpy"] != before["numpy"]
    assert other_variables["pandas"] != before["pandas"]
    assert other_variables["cpu"] == before["cpu"]


def run_probe(folder, cwd=None, **environ):
    """A fresh process's snapshot (its slow categories read from ``folder``)."""
    code = (
        "import json, sys\n"
        "from xptrack.adapters.environment import SystemEnvironmentProbe\n"
        f"probe = SystemEnvironmentProbe(cache={str(folder)!r}, warm_up=False)\n"
        "print(json.dumps(dict(probe.capture().categories)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **environ},
        cwd=cwd,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def test_another_process_of_the_same_environment_reuses_the_readings(tmp_path):
    keys = category_keys(installed_distributions())
    plant(tmp_path, "cpu", keys["cpu"], '{"brand_raw": "planted"}')

    snapshot = run_probe(tmp_path)

    assert snapshot["cpu"] == '{"brand_raw": "planted"}'
    assert "INSTALLED VERSIONS" in snapshot["pandas"]  # the missing ones were probed
    assert load(tmp_path, "pandas", keys["pandas"]).text == snapshot["pandas"]


def test_a_process_in_a_changed_environment_probes_again(tmp_path):
    keys = category_keys(installed_distributions())
    plant(tmp_path, "numpy", keys["numpy"], "planted numpy\n")

    snapshot = run_probe(tmp_path, NPY_DISABLE_CPU_FEATURES="")

    assert snapshot["numpy"] != "planted numpy\n"
    assert "Build Dependencies" in snapshot["numpy"]


def test_an_old_reading_is_used_and_refreshed_in_a_detached_process(tmp_path):
    requirements = installed_distributions()
    keys = category_keys(requirements)
    plant(tmp_path, "scipy", keys["scipy"], "old scipy\n", age=2 * 86400)
    started = time.time()

    refresher = environment_cache.start_refresh(tmp_path, {"scipy": keys["scipy"]})
    assert refresher is not None
    assert refresher.wait(timeout=120) == 0

    fresh = load(tmp_path, "scipy", keys["scipy"])
    assert fresh.text != "old scipy\n" and fresh.probed_at >= started
    assert not list(tmp_path.glob("*.refreshing"))


def test_a_refresh_is_started_once_a_day_per_reading(tmp_path):
    keys = {"scipy": category_keys(REQUIREMENTS)["scipy"]}
    # This process's own keys differ (other requirements): the refresher leaves it alone.
    first = environment_cache.start_refresh(tmp_path, keys)
    assert first is not None and first.wait(timeout=120) == 0

    assert environment_cache.start_refresh(tmp_path, keys) is None
    assert load(tmp_path, "scipy", keys["scipy"]) is None


def test_readings_start_a_refresh_only_for_old_ones(tmp_path):
    requirements = installed_distributions()
    keys = category_keys(requirements)
    for category in CACHED_CATEGORIES:
        plant(tmp_path, category, keys[category], f"{category} text\n")
    plant(tmp_path, "conda", keys["conda"], "old conda\n", age=2 * 86400)

    texts = readings(tmp_path, requirements)

    assert texts["conda"] == "old conda\n"  # used now, refreshed for the next processes
    assert [p.name.split("-")[0] for p in tmp_path.glob("*.refreshing")] == ["conda"]
    deadline = time.monotonic() + 120
    while list(tmp_path.glob("*.refreshing")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the detached refresher removes its marker when done
    assert load(tmp_path, "conda", keys["conda"]).text != "old conda\n"
    assert load(tmp_path, "cpu", keys["cpu"]).text == "cpu text\n"


def test_the_user_folder_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))

    assert environment_cache.default_folder() == tmp_path / "xdg" / "xptrack" / "environment"
    assert (tmp_path / "xdg" / "xptrack" / "environment").is_dir()


def test_an_unusable_user_folder_falls_back_to_a_private_temporary_one(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    folder = environment_cache.default_folder()

    assert folder == tmp_path / "tmp" / f"xptrack-{os.getuid()}" / "environment"
    assert folder.parent.stat().st_mode & 0o077 == 0


def test_a_temporary_folder_others_may_write_is_not_used(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / f"xptrack-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)

    assert environment_cache.default_folder() is None


def test_the_package_listing_is_reused_until_a_path_directory_changes(tmp_path):
    site, here = tmp_path / "site", tmp_path / "here"  # here: the child's sys.path[0]
    old = time.time_ns() - 10 * 10**9  # changed long enough ago to be trusted
    for folder in (site, here):
        folder.mkdir()
        os.utime(folder, ns=(old, old))
    cache = tmp_path / "cache"
    first = run_probe(cache, here, PYTHONPATH=str(site))
    kept = list(cache.glob("requirements-*.json"))
    assert len(kept) == 1
    document = json.loads(kept[0].read_text())
    document["text"] = "planted==1.0\n"
    kept[0].write_text(json.dumps(document))

    reused = run_probe(cache, here, PYTHONPATH=str(site))
    (site / "fake_pkg-3.0.dist-info").mkdir()
    (site / "fake_pkg-3.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake_pkg\nVersion: 3.0\n"
    )
    changed = run_probe(cache, here, PYTHONPATH=str(site))

    assert "pandas==" in first["requirements"]
    assert reused["requirements"] == "planted==1.0\n"
    assert "fake_pkg==3.0" in changed["requirements"].splitlines()
