"""``xptrack``: the command line of a store (``python -m xptrack`` is the same program).

Built on click (commands, options, usage errors) and rich (tables that fit the terminal,
progress bars). Every command is a client of the same calls a user's script makes.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from xptrack.application.cli import inspect, manage, script, show
from xptrack.application.cli.common import BACKEND_ENV, Store, quiet_logging
from xptrack.application.cli.errors import invoke

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _version() -> str:
    from xptrack import __version__

    return __version__


@click.group(context_settings=_CONTEXT)
@click.version_option(_version(), "--version", prog_name="xptrack", message="%(prog)s %(version)s")
@click.option(
    "--backend",
    envvar=BACKEND_ENV,
    metavar="URI_OR_PATH",
    default=None,
    help=f"The store: a redis:// or mongodb:// URI, or a folder (${BACKEND_ENV}; "
    "default: the local xptrack_cache/).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show xptrack's INFO log lines.")
@click.pass_context
def cli(context: click.Context, backend: str | None, verbose: bool) -> None:
    """Experiments, trials and their records in a store: list, inspect, compare, export,
    copy, clean up, serve the dashboard, run a script's trial."""
    context.obj = Store(backend or None)
    if context.invoked_subcommand not in ("run", "rerun"):
        quiet_logging(verbose)


for command in (
    inspect.list_command,
    inspect.history,
    show.show,
    inspect.diff,
    manage.export,
    manage.copy,
    manage.delete,
    manage.tag,
    manage.note,
    manage.dashboard,
    script.run,
    script.rerun,
):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``xptrack`` console script: the exit code of the command ``argv`` names."""
    code, _ = invoke(cli, argv, "xptrack")
    return code
