"""Commands that write or serve: ``export``, ``dashboard``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from xptrack.application.cli.common import store_of


@contextmanager
def progress_bar(what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for long work; yields the ``progress(done, total)`` callback
    the use-cases call. Left out when stderr is not a terminal."""
    err = Console(stderr=True)
    if not err.is_terminal:
        yield lambda done, total: None
        return
    bar = Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), console=err, transient=True)
    task = bar.add_task(what, total=None)

    def advance(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield advance


@click.command()
@click.argument("experiment")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write: .csv, .parquet or .jsonl.",
)
@click.pass_context
def export(context: click.Context, experiment: str, output: Path) -> None:
    """Write the history of EXPERIMENT, with each metric's last value, to a file."""
    ex = store_of(context).experiment(experiment)
    with progress_bar("Reading trials") as progress:
        written = ex.export(output, progress)
    click.echo(f"Exported experiment {experiment} to {written}")


@click.command()
@click.argument("experiment", required=False)
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.pass_context
def dashboard(context: click.Context, experiment: str | None, port: int, host: str) -> None:
    """Serve the dashboard of the whole store (opening on EXPERIMENT) until Ctrl-C."""
    from xptrack.application.bootstrap import open_backend
    from xptrack.application.dashboard import start_dashboard

    given = store_of(context).backend
    if given is None and experiment is None:
        raise click.UsageError("name the experiment to serve: xptrack dashboard EXPERIMENT")
    backend = open_backend(given, experiment or "")
    handle = start_dashboard(backend, experiment, host=host, port=port, blocking=False)
    click.echo(f"Dashboard of {backend.location} at {handle.url} (Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("Dashboard stopped", err=True)
    finally:
        handle.stop()
