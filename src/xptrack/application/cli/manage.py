"""Commands that write or serve: ``export``, ``copy``, ``delete``, ``tag``, ``note``,
``dashboard``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from xptrack.application.cli.common import TRIAL_ID, Store, confirm, store_of


@contextmanager
def progress_bar(what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for long work; yields the ``progress(done, total)`` callback
    the use-cases call. Left out when stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

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
@click.argument("experiment")
@click.option(
    "--to", "destination", required=True, metavar="URI_OR_PATH", help="The store to copy to."
)
@click.option("--as", "new_id", default=None, metavar="NEW_ID", help="The id of the copy there.")
@click.pass_context
def copy(context: click.Context, experiment: str, destination: str, new_id: str | None) -> None:
    """Copy EXPERIMENT, every record of every trial, to another store."""
    from xptrack.application.copy import copy_experiment

    source = store_of(context).backend
    with progress_bar("Copying trials") as progress:
        count = copy_experiment(experiment, source, Store(destination).backend, new_id, progress)
    click.echo(f"Copied {count} trials of {experiment} to {destination} as {new_id or experiment}")


@click.command()
@click.argument("experiment")
@click.argument("trials", nargs=-1, type=TRIAL_ID, metavar="[N]...")
@click.option("--yes", is_flag=True, help="Do not ask first.")
@click.pass_context
def delete(context: click.Context, experiment: str, trials: tuple[int, ...], yes: bool) -> None:
    """Delete trials N... of EXPERIMENT, or the whole experiment when no N is given."""
    from xptrack.application.management import delete_experiment

    store = store_of(context)
    ex = store.experiment(experiment)
    if not trials:
        confirm(f"Delete experiment {experiment} and its {ex.trial_id} trial id(s)?", yes)
        delete_experiment(experiment, store.backend)
        click.echo(f"Deleted experiment {experiment}")
        return
    missing = sorted(set(trials) - set(ex.get_history().index))
    if missing:  # checked before anything is deleted
        listed = ", ".join(map(str, missing))
        raise click.BadParameter(f"no trial {listed} in experiment {experiment}", param_hint="N")
    listed = ", ".join(map(str, trials))
    confirm(f"Delete trial(s) {listed} of experiment {experiment}?", yes)
    for trial in trials:
        ex.delete_trial(trial)
    click.echo(f"Deleted trial(s) {listed} of experiment {experiment}")


@click.command()
@click.argument("experiment")
@click.argument("n", type=TRIAL_ID)
@click.argument("tags", nargs=-1, required=True, metavar="TAG...")
@click.option("--remove", is_flag=True, help="Remove these tags instead of adding them.")
@click.pass_context
def tag(
    context: click.Context, experiment: str, n: int, tags: tuple[str, ...], remove: bool
) -> None:
    """Add TAGs to trial N of EXPERIMENT (or remove them with --remove)."""
    ex = store_of(context).experiment(experiment)
    (ex.untag if remove else ex.tag)(n, *tags)
    click.echo(f"Trial {n} of {experiment}: {'removed' if remove else 'tagged'} {', '.join(tags)}")


@click.command()
@click.argument("experiment")
@click.argument("n", type=TRIAL_ID)
@click.argument("text")
@click.pass_context
def note(context: click.Context, experiment: str, n: int, text: str) -> None:
    """Set the note of trial N of EXPERIMENT to TEXT ('' clears it)."""
    store_of(context).experiment(experiment).note(n, text)
    click.echo(f"Trial {n} of {experiment}: note {'set' if text else 'cleared'}")


@click.command()
@click.argument("experiment", required=False)
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.pass_context
def dashboard(context: click.Context, experiment: str | None, port: int, host: str) -> None:
    """Serve the dashboard of the whole store (opening on EXPERIMENT) until Ctrl-C."""
    from xptrack.application.bootstrap import store_backend
    from xptrack.application.dashboard import start_dashboard

    store = store_of(context)
    if experiment is not None:
        store.experiment(experiment)  # a usage error, naming the others, when there is none
    backend = store_backend(store.backend)
    handle = start_dashboard(backend, experiment, host=host, port=port, blocking=False)
    click.echo(f"Dashboard of {backend.location} at {handle.url} (Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("Dashboard stopped", err=True)
    finally:
        handle.stop()
