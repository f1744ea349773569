"""Command lines: ``python script.py a=1 --seed 1`` (via ``ex.main``) and ``xptrack run``.

Values are Python literals where they parse (``a=1`` is the int 1, ``lr=1e-3`` a
float, ``layers=[1,2]`` a list) and strings otherwise (``name=foo`` is ``'foo'``).
"""

from __future__ import annotations

import argparse
import ast
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xptrack.domain.errors import InvalidName
from xptrack.domain.names import validate_name

if TYPE_CHECKING:
    from xptrack.application.steps import StepCall

_ASSIGNMENTS_HELP = "parameter values as name=value (Python literals, else strings)"


def parse_value(text: str) -> Any:
    """``text`` as a Python literal when it is one, else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def parse_assignment(token: str) -> tuple[str, Any]:
    """``'a=1'`` -> ``('a', 1)``; argparse turns the ValueError into a usage error."""
    name, separator, value = token.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"{token!r} is not name=value (e.g. a=1 or name=foo)")
    try:
        validate_name(name, "parameter name")
    except InvalidName as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return name, parse_value(value)


def _add_trial_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignments", nargs="*", type=parse_assignment, help=_ASSIGNMENTS_HELP)
    parser.add_argument("--seed", type=int, default=None, help="random seed of the trial")


def run_from_command_line(call: StepCall, argv: Sequence[str] | None = None) -> Any:
    """Run one trial of ``call`` with parameters and seed read from ``argv``; print the result."""
    parser = argparse.ArgumentParser(
        prog=Path(sys.argv[0]).name, description=f"Run one trial of experiment {call.experiment.id}"
    )
    _add_trial_arguments(parser)
    arguments = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return _run(parser, call, arguments)


def _run(parser: argparse.ArgumentParser, call: StepCall, arguments: argparse.Namespace) -> Any:
    from xptrack.domain.errors import UnknownParameter

    try:
        call.experiment.set_parameters(**dict(arguments.assignments))
    except UnknownParameter as error:
        parser.error(str(error))
    result = call.compute(seed=arguments.seed)
    print(repr(result))
    return result


def _find_result_call(namespace: dict[str, Any], wanted: str | None) -> tuple[str, StepCall]:
    from xptrack.application.runtime import StepKind
    from xptrack.application.steps import StepCall

    calls = {
        name: value
        for name, value in namespace.items()
        if isinstance(value, StepCall)
        and value.experiment._steps[value.step].kind is StepKind.RESULT
    }
    if wanted is not None:
        if wanted not in calls:
            raise LookupError(
                f"no result-step call named {wanted!r}; found: {sorted(calls) or 'none'}"
            )
        return wanted, calls[wanted]
    if len(calls) != 1:
        found = sorted(calls) or "none"
        raise LookupError(
            f"the script must build exactly one call of an @ex.result step at module level "
            f"(found: {found}); name the one to run with --result NAME"
        )
    return next(iter(calls.items()))


def main(argv: Sequence[str] | None = None) -> int:
    """``xptrack run script.py a=1 b=2 --seed 1``: build the script's graph, run one trial."""
    parser = argparse.ArgumentParser(prog="xptrack", description="xptrack command line")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one trial of a script that builds an experiment")
    run.add_argument("script", type=Path, help="a Python file that builds the experiment's graph")
    run.add_argument("--result", default=None, help="the variable holding the result call")
    _add_trial_arguments(run)
    arguments = parser.parse_args(argv)
    if not arguments.script.is_file():
        run.error(f"script {str(arguments.script)!r} does not exist")
    sys.path.insert(0, str(arguments.script.resolve().parent))
    namespace = runpy.run_path(str(arguments.script), run_name="__xptrack_run__")
    try:
        _, call = _find_result_call(namespace, arguments.result)
    except LookupError as error:
        run.error(str(error))
    _run(run, call, arguments)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
