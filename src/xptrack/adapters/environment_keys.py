"""The keys of the environment cache's readings: what would change each slow category's text.

A key is a digest of the interpreter, the machine (uname, /proc/cpuinfo without its clock
lines), the versions of the installed distributions a category reports, the files of the
library it prints about, and the environment variables it reads. Computing every key costs a
few stat calls and one read of /proc/cpuinfo.
"""

from __future__ import annotations

import hashlib
import json
import locale
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from xptrack.adapters.environment_probes import conda_executable

#: Bumped when what a probe writes changes, so that older readings are not reused.
FORMAT = 1
#: The categories kept across processes: the slow ones (the others cost microseconds).
CACHED_CATEGORIES: tuple[str, ...] = ("cpu", "numpy", "scipy", "pandas", "conda")


def category_keys(requirements: str) -> dict[str, str]:
    """Category -> key of its reading in this process's environment, given the installed
    distributions (``requirements``, ``name==version`` lines)."""
    versions = _versions(requirements)
    common = {"format": FORMAT, "interpreter": _interpreter(), "machine": _machine()}
    specific: dict[str, dict[str, Any]] = {
        "cpu": {"py-cpuinfo": versions.get("py-cpuinfo")},
        "numpy": {
            "numpy": versions.get("numpy"),
            "module": _module_stamp("numpy"),
            "environ": _environ("NPY_"),
        },
        "scipy": {"scipy": versions.get("scipy"), "module": _module_stamp("scipy")},
        "pandas": {
            "requirements": requirements,  # it prints the versions of its dependencies
            "module": _module_stamp("pandas"),
            "environ": _environ("LC_", "LANG"),
            "locale": locale.getlocale(),
        },
        "conda": _conda_material(),
    }
    return {
        category: _digest({**common, "category": category, **specific[category]})
        for category in CACHED_CATEGORIES
    }


def requirements_key(stamps: Sequence[tuple[str, int | None]]) -> str:
    """The key of the installed distributions' listing: the interpreter, and each ``sys.path``
    directory with its modification time (installing or removing a package changes it)."""
    return _digest({"format": FORMAT, "interpreter": _interpreter(), "path": list(stamps)})


def _digest(material: Mapping[str, Any]) -> str:
    text = json.dumps(material, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _versions(requirements: str) -> dict[str, str]:
    versions: dict[str, str] = {}
    for line in requirements.splitlines():
        name, _, version = line.partition("==")
        versions[name.strip().lower().replace("_", "-").replace(".", "-")] = version.strip()
    return versions


def _stamp(path: str | None) -> tuple[int, int] | None:
    """(mtime in ns, size) of ``path``, ``None`` when it cannot be read."""
    if not path:
        return None
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def _interpreter() -> dict[str, Any]:
    executable = os.path.realpath(sys.executable) if sys.executable else ""
    return {
        "executable": sys.executable,
        "resolved": executable,
        "stamp": _stamp(executable),
        "version": sys.version,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
    }


def _machine() -> dict[str, Any]:
    uname = platform.uname()
    return {
        "uname": [uname.system, uname.node, uname.release, uname.version, uname.machine],
        "cpus": os.cpu_count(),
        "cpuinfo": _cpu_identity(),
    }


def _cpu_identity() -> str:
    """A digest of ``/proc/cpuinfo`` without the lines that vary by the moment (clock speed);
    elsewhere what ``platform`` says of the processor."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            lines = [line for line in file if not line.startswith(("cpu MHz", "bogomips"))]
    except OSError:
        return platform.processor()
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _module_stamp(module: str) -> Any:
    """Where ``module`` would be imported from, and that file's stamp (a rebuilt or reinstalled
    library of the same version), without importing it."""
    loaded = sys.modules.get(module)
    origin = getattr(loaded, "__file__", None)
    if origin is None:
        import importlib.util

        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None else None
    return [origin, _stamp(origin)]


def _environ(*prefixes: str) -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name.startswith(prefixes)}


def _conda_material() -> dict[str, Any]:
    """What ``conda info`` reports depends on: its executable, its configuration files, the
    active and base environments' package histories, its variables, the GPU driver."""
    executable = conda_executable()
    root = os.path.dirname(os.path.dirname(executable)) if executable else None
    home = os.path.expanduser("~")
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    files = [
        executable,
        "/etc/conda/.condarc",
        "/etc/conda/condarc",
        os.path.join(config, "conda", ".condarc"),
        os.path.join(config, "conda", "condarc"),
        os.path.join(home, ".conda", ".condarc"),
        os.path.join(home, ".conda", "condarc"),
        os.path.join(home, ".condarc"),
        os.environ.get("CONDARC"),
        "/proc/driver/nvidia/version",
    ]
    for prefix in (root, os.environ.get("CONDA_PREFIX")):
        if prefix:
            files += [os.path.join(prefix, name) for name in (".condarc", "condarc")]
            files.append(os.path.join(prefix, "conda-meta", "history"))
    return {
        "conda": executable,
        "files": [(path, _stamp(path)) for path in files if path],
        "environ": _environ("CONDA"),
    }
