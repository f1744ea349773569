"""Peers measured next to xptrack, each in a throwaway virtualenv of its own (never this one).

daskperiment (the library xptrack's API follows) is installed from PyPI into
``benchmarks/.peers/daskperiment`` the first time W9 runs and reused afterwards; delete the
folder to start afresh. When it cannot be installed, W9 says why and compares with plain dask.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"
DASKPERIMENT = HERE / "peer_daskperiment.py"
_INSTALL_TIMEOUT = 900.0
#: daskperiment 0.5.0 (2019, the last release) passes ``charset=`` to redis-py, gone in 5.0.
DASKPERIMENT_REQUIREMENTS = ("daskperiment==0.5.0", "redis<5")


def daskperiment_python() -> tuple[Path | None, str]:
    """(the interpreter of a virtualenv with daskperiment, its version), or (None, why not)."""
    venv = PEERS / "daskperiment"
    python = venv / "bin" / "python"
    marker = venv / "xptrack-bench-requirements.txt"
    wanted = "\n".join(DASKPERIMENT_REQUIREMENTS)
    version = _version(python)
    if version is not None and marker.exists() and marker.read_text() == wanted:
        return python, version
    try:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)],
                check=True,
                capture_output=True,
                timeout=_INSTALL_TIMEOUT,
            )
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *DASKPERIMENT_REQUIREMENTS],
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"could not make a virtualenv for daskperiment: {error}"
    if done.returncode != 0:
        return None, f"pip install daskperiment failed: {done.stderr.strip()[-300:]}"
    version = _version(python)
    if version is None:
        return None, "daskperiment installed but does not import"
    marker.write_text(wanted)
    return python, version


def _version(python: Path) -> str | None:
    if not python.exists():
        return None
    code = "import importlib.metadata as m, daskperiment; print(m.version('daskperiment'))"
    done = subprocess.run(  # in its folder: importing daskperiment makes ./daskperiment_log
        [str(python), "-c", code], capture_output=True, text=True, timeout=120, cwd=python.parent
    )
    return done.stdout.strip() if done.returncode == 0 else None
