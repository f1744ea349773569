"""The ``xptrack`` command and script mode (``ex.main``): see :mod:`.app` and :mod:`.script`."""

from xptrack.application.cli.app import cli, main
from xptrack.application.cli.script import find_result_call, run_from_command_line

__all__ = ["cli", "find_result_call", "main", "run_from_command_line"]
