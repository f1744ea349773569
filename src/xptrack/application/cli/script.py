"""Script mode: ``python script.py a=1 --seed 1`` (``ex.main``), ``xptrack run``, ``xptrack rerun``.

``--help`` of a script lists its experiment's parameters with their defaults. A missing or
unknown parameter, or a value that does not fit its default's type, is a usage error
naming it (exit 2); a trial that fails prints one line with its id and error (exit 1).
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from xptrack.application.cli.common import TRIAL_ID
from xptrack.application.cli.errors import TrialFailed, invoke, program_name
from xptrack.application.cli.values import BadValue, parameter_values
from xptrack.application.entry import running_script

if TYPE_CHECKING:
    from xptrack.application.steps import StepCall

_ASSIGNMENTS = "NAME=VALUE..."


def run_from_command_line(call: StepCall, argv: Sequence[str] | None = None) -> Any:
    """Run one trial of ``call`` with parameters and seed read from ``argv`` (``sys.argv``
    when None) and print its result; exits the process on a usage error or a failed trial."""
    prog = program_name()
    code, result = invoke(trial_command(call, prog), sys.argv[1:] if argv is None else argv, prog)
    if code:
        raise SystemExit(code)
    return result


def trial_command(call: StepCall, name: str) -> click.Command:
    """The command line of one trial of ``call``: ``NAME=VALUE... [--seed N]``."""

    @click.command(name=name, epilog=parameters_help(call), no_args_is_help=False)
    @click.argument("assignments", nargs=-1, metavar=_ASSIGNMENTS)
    @click.option("--seed", type=int, default=None, help="Random seed of the trial.")
    def command(assignments: tuple[str, ...], seed: int | None) -> Any:
        return run_one_trial(call, assignments, seed)

    command.help = (
        f"Run one trial of experiment {call.experiment.id}. Values are Python literals "
        "where they parse, strings otherwise, and must fit the type of the parameter's default."
    )
    return command


def parameters_help(call: StepCall) -> str:
    """The ``Parameters:`` section of a script's ``--help``: each name with its default."""
    from xptrack.application.steps import Undefined

    values = call.experiment.get_parameters()
    if not values:
        return "The experiment declares no parameters."
    width = max(len(name) for name in values)
    lines = ["\b", "Parameters (NAME=VALUE):"]
    for name, value in values.items():
        shown = "required (no default)" if value is Undefined else f"default {value!r}"
        lines.append(f"  {name.ljust(width)}  {shown}")
    return "\n".join(lines)


def run_one_trial(call: StepCall, tokens: Sequence[str], seed: int | None) -> Any:
    """Set the parameters ``tokens`` give, check none is missing, run the trial, print the
    result; usage errors and a failed trial as :mod:`errors` says."""
    from xptrack.application.steps import Undefined

    experiment = call.experiment
    try:
        values = parameter_values(tokens, experiment.get_parameters())
    except BadValue as error:
        raise click.UsageError(str(error)) from None
    current = {**experiment.get_parameters(), **values}
    missing = sorted({p.name for p in call.parameters() if current.get(p.name) is Undefined})
    if missing:
        given = " ".join(f"{name}=VALUE" for name in missing)
        raise click.UsageError(f"missing parameter(s) {', '.join(missing)}: give {given}")
    experiment.set_parameters(**values)
    before = experiment.trial_id
    try:
        result = call.compute(seed=seed)
    except Exception as error:
        if experiment.trial_id > before:  # recorded (a failure before the start is not)
            raise TrialFailed(experiment.id, experiment.trial_id, error) from error
        raise
    click.echo(repr(result))
    return result


# --- xptrack run / rerun: a script that only builds the graph ------------------------------


def load_script(script: Path) -> tuple[dict[str, Any], list[tuple[StepCall, str]]]:
    """Run ``script`` as a module (not as ``__main__``: its ``ex.main`` stays off); its globals
    and the result calls it built, bound to a name or not, with where (``file:line``)."""
    from xptrack.application.steps import remembering_result_calls

    if not script.is_file():
        raise click.BadParameter(f"script {str(script)!r} does not exist", param_hint="SCRIPT")
    sys.path.insert(0, str(script.resolve().parent))
    # running_script: the git state recorded is that of the script's repository.
    with remembering_result_calls() as built, running_script(script):
        namespace = runpy.run_path(str(script), run_name="__xptrack_run__")
    return namespace, built


def find_result_call(
    namespace: dict[str, Any], wanted: str | None, built: Sequence[tuple[StepCall, str]] = ()
) -> tuple[str, StepCall]:
    """The call of an ``@ex.result`` step the script built: the one named ``wanted``, or the
    only one, bound to a name or not (``built``: daskperiment's example scripts end with a
    bare ``calculate_score(d)``). The one place that decides it."""
    from xptrack.application.steps import StepCall

    calls = {
        name: value
        for name, value in namespace.items()
        if isinstance(value, StepCall) and value.is_result
    }
    if wanted is not None:
        if wanted not in calls:
            found = ", ".join(sorted(calls)) or "none"
            raise click.UsageError(f"no result-step call named {wanted!r}; found: {found}")
        return wanted, calls[wanted]
    names = {id(call): name for name, call in calls.items()}
    candidates = {
        id(call): (names.get(id(call), f"{call.step}(...) at {where}"), call)
        for call, where in built
    }
    candidates.update({id(call): (name, call) for name, call in calls.items()})
    if len(candidates) != 1:
        found = ", ".join(label for label, _ in candidates.values()) or "none"
        raise click.UsageError(
            f"the script must build exactly one call of an @ex.result step (found: {found}); "
            "bind the one to run to a name and pass --result NAME"
        )
    return next(iter(candidates.values()))


_SCRIPT_SETTINGS = {"ignore_unknown_options": True, "allow_interspersed_args": False}


@click.command(context_settings=_SCRIPT_SETTINGS)
@click.option("--result", "wanted", default=None, help="The variable holding the result call.")
@click.argument("script", type=click.Path(path_type=Path))
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED, metavar="[NAME=VALUE]... [--seed N]")
def run(wanted: str | None, script: Path, arguments: tuple[str, ...]) -> None:
    """One trial of SCRIPT, a Python file that builds an experiment's graph.

    `xptrack run SCRIPT --help` lists the experiment's parameters.
    """
    namespace, built = load_script(script)
    _, call = find_result_call(namespace, wanted, built)
    command = trial_command(call, f"xptrack run {script}")
    command.main(args=list(arguments), prog_name=f"xptrack run {script}", standalone_mode=False)


@click.command()
@click.option("--result", "wanted", default=None, help="The variable holding the result call.")
@click.argument("script", type=click.Path(path_type=Path))
@click.argument("n", type=TRIAL_ID)
def rerun(wanted: str | None, script: Path, n: int) -> None:
    """Run trial N of the experiment SCRIPT defines again, and say whether it reproduces.

    Exits 0 when the result and persisted outputs are bit-identical, 1 when not (with the
    diff that explains it).
    """
    namespace, built = load_script(script)
    _, call = find_result_call(namespace, wanted, built)
    report = call.experiment.rerun(n, call)
    click.echo(str(report))
    if not report.identical:
        raise click.exceptions.Exit(1)


__all__ = ["find_result_call", "invoke", "rerun", "run", "run_from_command_line"]
