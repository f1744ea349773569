"""``xptrack show EXP N``: one trial, everything it keeps, in one screen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from xptrack.application.cli.common import TRIAL_ID, cell, console, store_of

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from xptrack.application.experiment import Experiment
    from xptrack.application.trial_info import TrialInfo


@click.command()
@click.argument("experiment")
@click.argument("n", type=TRIAL_ID)
@click.pass_context
def show(context: click.Context, experiment: str, n: int) -> None:
    """Trial N of EXPERIMENT: status, result, error and traceback, parameters, seed, times,
    steps, captured output, persisted outputs, tags, note, metrics."""
    ex = store_of(context).experiment(experiment)
    frame = ex.get_history(verbose=True)
    if n not in frame.index:
        raise click.BadParameter(f"no trial {n} in experiment {experiment}", param_hint="N")
    # Parameters and result come from the history, which never unpickles a user's object;
    # the rest from get_trial.
    info = ex.get_trial(n)
    for line in [*trial_lines(ex, n, frame.loc[n]), *info_lines(info)]:  # type: ignore[arg-type]
        click.echo(line)
    metrics = metrics_table(ex, n)
    if metrics is not None:
        console().print(metrics)


def trial_lines(ex: Experiment, trial: int, row: pd.Series) -> list[str]:
    """The text part of ``show``: one fact a line, then the parameters."""
    lines = [f"Trial {trial} of experiment {ex.id}: {row['Status']}"]
    facts = {
        "Result": f"{_python(row['Result'])!r} ({row['Result Type']})" if row["Success"] else "",
        "Error": cell(row["Description"]),
        "Seed": cell(row["Seed"]),
        "Started": cell(row["Started"]),
        "Finished": cell(row["Finished"]),
        "Process time": cell(row["Process Time"]),
    }
    lines += [f"{name + ':':<14}{value}" for name, value in facts.items() if value]
    parameters = [name for name in row.index if name not in _HISTORY_COLUMNS]
    if parameters:
        lines.append("Parameters:")
        lines += [f"  {name} = {_python(row[name])!r}" for name in parameters if _is_set(row[name])]
    persisted = ex.list_persisted(trial)
    if persisted:
        lines.append(f"Persisted:    {', '.join(persisted)}")
    if len(row["Tags"]):
        lines.append(f"Tags:         {', '.join(row['Tags'])}")
    if row["Note"]:
        lines.append("Note:         " + "\n              ".join(str(row["Note"]).splitlines()))
    return lines


_HISTORY_COLUMNS = {
    "Result",
    "Result Type",
    "Success",
    "Finished",
    "Process Time",
    "Description",
    "Seed",
    "Started",
    "Status",
    "Tags",
    "Note",
}


def info_lines(info: TrialInfo) -> list[str]:
    """What ``get_trial`` adds: per-step times, the captured output, the traceback."""
    lines = []
    if info.steps:
        lines.append("Steps:")
        width = max(len(name) for name in info.steps)
        for name, step in info.steps.items():
            cached = f"  (output of trial {step.cached_from})" if step.cached_from else ""
            seconds = step.duration.total_seconds()
            lines.append(f"  {name.ljust(width)}  {seconds:.3f}s{cached}")
    for title, text in (("Output", info.output), ("Traceback", info.traceback)):
        if text:
            lines.append(f"{title}:")
            lines += ["  " + line for line in text.rstrip("\n").splitlines()]
    return lines


def _python(value: Any) -> Any:
    """A value as the user gave it: pandas hands numbers of numeric columns as NumPy scalars."""
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value


def _is_set(value: Any) -> bool:
    import pandas as pd

    return isinstance(value, (list, tuple, dict)) or not pd.isna(value)


def metrics_table(ex: Experiment, trial: int) -> Table | None:
    """Per metric: points, epochs, last value and range; None when the trial saved none."""
    summaries = ex.get_metric_summary(trial)
    if not summaries:
        return None
    from rich.table import Table

    table = Table(title="Metrics")
    for name in ("Metric", "Points", "Epochs", "Last", "Min", "Max"):
        table.add_column(name, overflow="ellipsis", no_wrap=True)
    for s in summaries:
        epochs = f"{s.first_epoch}..{s.last_epoch}"
        values = (cell(s.last), cell(s.minimum), cell(s.maximum))
        table.add_row(s.key, str(s.points), epochs, *values)
    return table
