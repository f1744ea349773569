"""What every store command shares: the store chosen, experiments opened, tables printed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from xptrack.application.experiment import Experiment

BACKEND_ENV = "XPTRACK_BACKEND"
#: Widest a table column gets (longer values end in an ellipsis).
MAX_COLUMN_WIDTH = 24


class TrialIdType(click.ParamType):  # type: ignore[type-arg]
    """A trial id on the command line: a positive integer."""

    name = "N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and value >= 1:
            return value
        text = str(value).strip()
        if text.isdigit() and int(text) >= 1:
            return int(text)
        self.fail(f"a trial id is a positive integer (1, 2, ...); got {value!r}", param, ctx)


TRIAL_ID = TrialIdType()


@attrs.frozen
class Store:
    """The store the command works on: ``--backend`` as given (None: the local default)."""

    given: str | None

    @property
    def backend(self) -> Any:
        """The ``backend`` argument of ``xptrack.Experiment``: a URI, a Path, or None."""
        if self.given is None:
            return None
        return self.given if "://" in self.given else Path(self.given)

    def experiment(self, experiment_id: str) -> Experiment:
        """Open experiment ``experiment_id`` for reading or labelling (no environment probe);
        a usage error when the store has none of that id (opening would create it)."""
        from xptrack.application.bootstrap import store_backend
        from xptrack.application.experiment import Experiment
        from xptrack.application.management import list_experiments

        known = list_experiments(self.backend)
        if experiment_id not in known:
            where = store_backend(self.backend).location
            raise click.BadParameter(
                f"no experiment {experiment_id!r} in {where}; "
                f"its experiments: {', '.join(known) or 'none'}",
                param_hint="EXPERIMENT",
            )
        return Experiment(experiment_id, self.backend, capture_environment=False)


def store_of(context: click.Context) -> Store:
    """The :class:`Store` the top-level ``--backend`` option chose."""
    store = context.find_object(Store)
    return store if store is not None else Store(None)


def quiet_logging(verbose: bool) -> None:
    """xptrack's INFO lines (``Loaded existing experiment``...) only with ``--verbose``."""
    from xptrack.application.logs import ensure_visible_logging

    ensure_visible_logging()
    logging.getLogger("xptrack").setLevel(logging.INFO if verbose else logging.WARNING)


def console() -> Console:
    """Where tables go: stdout, as wide as the terminal (``COLUMNS`` when not a terminal)."""
    from rich.console import Console  # rich is imported by the commands that print with it

    return Console(highlight=False, soft_wrap=False)


def frame_table(frame: pd.DataFrame, title: str | None = None) -> Table:
    """A rich table of ``frame`` (its index first) that fits the terminal (see
    :func:`rows_table`)."""
    names = [str(frame.index.name or ""), *(str(c) for c in frame.columns)]
    rows = [
        [cell(trial_id), *(cell(value) for value in row)]
        for trial_id, row in zip(frame.index, frame.itertuples(index=False), strict=True)
    ]
    return rows_table(names, rows, title)


def rows_table(names: list[str], rows: list[list[str]], title: str | None = None) -> Table:
    """A rich table with as many leading columns as the terminal fits at their natural width
    (up to MAX_COLUMN_WIDTH); the columns left out are named in the caption."""
    widths = [
        min(max([len(name), *(len(row[i]) for row in rows)]), MAX_COLUMN_WIDTH)
        for i, name in enumerate(names)
    ]
    shown = columns_that_fit(widths, console().width)
    hidden = names[shown:]
    caption = f"not shown (too narrow): {', '.join(hidden)}" if hidden else None
    from rich.table import Table

    table = Table(title=title, caption=caption)
    for name, width in zip(names[:shown], widths, strict=False):
        table.add_column(name, overflow="ellipsis", no_wrap=True, max_width=width)
    for row in rows:
        table.add_row(*row[:shown])
    return table


def columns_that_fit(widths: list[int], terminal: int) -> int:
    """How many of the leading columns of these widths fit in ``terminal`` characters with
    rich's borders and padding (3 per column, 1 more); at least one."""
    used, count = 1, 0
    for width in widths:
        used += width + 3
        if used > terminal:
            break
        count += 1
    return max(count, 1)


def cell(value: Any) -> str:
    """How a value reads in a table: no ``NaN``/``NaT`` for what is missing, short floats."""
    import pandas as pd

    if value is None or (not isinstance(value, (list, tuple, dict)) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, pd.Timedelta):
        return f"{value.total_seconds():.3f}s"
    return str(value)


def print_table(table: Table) -> None:
    """Print ``table`` to stdout."""
    console().print(table)


def confirm(question: str, yes: bool) -> None:
    """Ask ``question`` (unless ``--yes``); stop the command with exit 1 when not confirmed."""
    if yes:
        return
    try:
        confirmed = click.confirm(question, default=False, err=True)
    except click.Abort:  # no answer (end of input): the same as no
        click.echo("", err=True)
        confirmed = False
    if not confirmed:
        click.echo("Nothing deleted.", err=True)
        raise click.exceptions.Exit(1)
