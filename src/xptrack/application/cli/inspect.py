"""Reading commands: ``ls``, ``history``, ``diff`` (``show`` has a module of its own)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from xptrack.application.cli.common import (
    TRIAL_ID,
    cell,
    frame_table,
    print_table,
    rows_table,
    store_of,
)

if TYPE_CHECKING:
    import pandas as pd


FORMATS = ("table", "csv", "json")


@click.command(name="ls")
@click.pass_context
def list_command(context: click.Context) -> None:
    """Experiments in the store, with trial counts and last activity."""
    from xptrack.application.bootstrap import store_backend
    from xptrack.application.management import list_experiments

    store = store_of(context)
    rows = [
        [experiment_id, *activity(store.experiment(experiment_id).get_history(verbose=True))]
        for experiment_id in list_experiments(store.backend)
    ]
    names = ["Experiment", "Trials", *STATUS_COLUMNS, "Last activity"]
    print_table(rows_table(names, rows, f"Experiments in {store_backend(store.backend).location}"))


STATUS_COLUMNS = ("Finished", "Failed", "Running", "Interrupted")


def activity(history: pd.DataFrame) -> list[str]:
    """Trial count, count per status, and the latest start or finish."""
    import pandas as pd

    counts = history["Status"].value_counts().to_dict() if len(history) else {}
    per_status = [str(int(counts.get(status.lower(), 0))) for status in STATUS_COLUMNS]
    moments = pd.concat([history["Started"], history["Finished"]]).dropna()
    last = cell(moments.max()) if len(moments) else ""
    return [str(len(history)), *per_status, last]


@click.command()
@click.argument("experiment")
@click.option("--sort", "sort_by", metavar="COL", help="Sort by this column.")
@click.option("--desc", is_flag=True, help="Sort in descending order.")
@click.option("--where", metavar="EXPR", help='A pandas query, e.g. "lr < 0.1 and Success".')
@click.option(
    "--last",
    type=click.IntRange(min=1),
    metavar="N",
    help="Only the last N trials (after the rest).",
)
@click.option("--format", "form", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--full", is_flag=True, help="Also Seed, Started (and status, tags, note).")
@click.pass_context
def history(
    context: click.Context,
    experiment: str,
    sort_by: str | None,
    desc: bool,
    where: str | None,
    last: int | None,
    form: str,
    full: bool,
) -> None:
    """The history of EXPERIMENT: one row per trial."""
    frame = store_of(context).experiment(experiment).get_history(verbose=full)
    frame = select(frame, where, sort_by, desc, last)
    if form == "csv":
        from xptrack.application.export import plain_frame

        plain_frame(frame).to_csv(sys.stdout)
    elif form == "json":
        click.echo(json.dumps(frame_records(frame), indent=1))
    else:
        if "Tags" in frame.columns:
            frame = frame.assign(Tags=[", ".join(tags) for tags in frame["Tags"]])
        print_table(frame_table(frame, title=f"{experiment}: {len(frame)} trial(s)"))


def select(
    frame: pd.DataFrame, where: str | None, sort_by: str | None, desc: bool, last: int | None
) -> pd.DataFrame:
    """``frame`` filtered by the pandas query ``where``, sorted, cut to the ``last`` rows."""
    if where:
        from xptrack.application.where import apply_where

        frame = apply_where(frame, where)
    if sort_by:
        if sort_by == frame.index.name:
            frame = frame.sort_index(ascending=not desc)
        elif sort_by in frame.columns:
            frame = frame.sort_values(sort_by, ascending=not desc, kind="stable")
        else:
            columns = ", ".join(map(str, [frame.index.name, *frame.columns]))
            raise click.BadParameter(
                f"no column {sort_by!r}; columns: {columns}", param_hint="--sort"
            )
    return frame.tail(last) if last else frame


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON data, the index as its own field."""
    from xptrack.application.export import json_cell

    index = str(frame.index.name or "index")
    return [
        {index: int(trial_id), **{str(k): json_cell(v) for k, v in row.items()}}
        for trial_id, row in zip(frame.index, frame.to_dict("records"), strict=True)
    ]


@click.command()
@click.argument("experiment")
@click.argument("a", type=TRIAL_ID)
@click.argument("b", type=TRIAL_ID)
@click.option("--format", "form", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def diff(context: click.Context, experiment: str, a: int, b: int, form: str) -> None:
    """What differs between trials A and B of EXPERIMENT (parameters, seed, result, status,
    code per step, environment, packages, git)."""
    report = store_of(context).experiment(experiment).diff(a, b)
    click.echo(json.dumps(report.to_dict(), indent=1) if form == "json" else str(report))


__all__ = ["diff", "history", "list_command"]
