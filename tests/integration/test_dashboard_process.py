"""``ex.start_dashboard()`` from a script blocks, serving, until Ctrl-C (as daskperiment's)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import httpx

from tests.servers.processes import free_port, stop, wait_until_answers

SCRIPT = """
import pathlib, xptrack
ex = xptrack.Experiment("blocking", backend=pathlib.Path("store"))
a = ex.parameter("a")

@ex.result
def double(a):
    return 2 * a

ex.set_parameters(a=3)
double(a).compute(seed=1)
ex.start_dashboard(port={port})
print("returned after Ctrl-C", flush=True)
"""


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_script_serves_until_ctrl_c_then_returns(tmp_path):
    port = free_port()
    script = tmp_path / "board.py"
    script.write_text(textwrap.dedent(SCRIPT.format(port=port)))
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api/experiments/blocking/trials"
    try:
        assert wait_until_answers(process, lambda: answers(url), timeout=60), "never served"
        assert httpx.get(url).json()["trials"][0]["result"] == 6
        assert process.poll() is None  # still serving: start_dashboard has not returned
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        stop(process)
    assert process.returncode == 0, output.decode()
    assert b"returned after Ctrl-C" in output
