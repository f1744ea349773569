"""How every xptrack command line ends: a value, or one line on stderr and an exit code.

Usage mistakes (unknown command or option, malformed or unknown parameter, a value that
does not fit, a trial or experiment that does not exist) exit 2; a failed trial or a store
problem exits 1; Ctrl-C exits 130. Never a traceback for any of them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from xptrack.domain.errors import (
    InvalidArgument,
    InvalidBackend,
    InvalidName,
    NotFoundError,
    UndefinedParameter,
    UnknownParameter,
    XptrackError,
)

#: xptrack errors that mean "you asked for something that is not there or not allowed".
USAGE_ERRORS = (
    InvalidArgument,
    InvalidBackend,
    InvalidName,
    NotFoundError,
    UndefinedParameter,
    UnknownParameter,
)
USAGE_EXIT, FAILURE_EXIT, INTERRUPTED_EXIT = 2, 1, 130


class TrialFailed(click.ClickException):
    """A trial ran and failed: its id and error in one line (the traceback is stored)."""

    exit_code = FAILURE_EXIT

    def __init__(self, experiment_id: str, trial_id: int, error: BaseException) -> None:
        name = type(error).__name__
        text = f"{name}: {error}" if str(error) else name
        super().__init__(
            f"trial {trial_id} of experiment {experiment_id} failed: {text} "
            f"(traceback: xptrack show {experiment_id} {trial_id})"
        )


def one_line(text: str) -> str:
    """``text`` on one line (the first line of a multi-line message, plus how many follow)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    return " ".join(line.strip() for line in lines)


def fail(prog: str, message: str, code: int) -> int:
    """Print ``prog: error: message`` on one line to stderr and return ``code``."""
    click.echo(f"{prog}: error: {one_line(message)}", err=True)
    return code


def invoke(command: click.Command, args: Sequence[str] | None, prog: str) -> tuple[int, Any]:
    """Run ``command`` on ``args``: (0, what it returned), or (exit code, None) once the
    error is printed. A command asks for another exit code with ``click.exceptions.Exit``."""
    arguments = list(sys.argv[1:] if args is None else args)
    try:
        # click's own main() would turn an Exit into a return value, indistinguishable from a
        # trial's result in script mode: the context is made and invoked here instead.
        with command.make_context(prog, arguments) as context:
            value = command.invoke(context)
    except click.exceptions.Exit as done:
        return int(done.exit_code), None
    except click.exceptions.Abort:
        return fail(prog, "aborted", FAILURE_EXIT), None
    except click.exceptions.NoArgsIsHelpError as error:  # a bare `xptrack`: the help, whole
        click.echo(error.format_message(), err=True)
        return USAGE_EXIT, None
    except click.UsageError as error:
        return fail(prog, error.format_message(), USAGE_EXIT), None
    except click.ClickException as error:
        return fail(prog, error.format_message(), error.exit_code), None
    except USAGE_ERRORS as error:
        return fail(prog, str(error), USAGE_EXIT), None
    except XptrackError as error:
        return fail(prog, f"{type(error).__name__}: {error}", FAILURE_EXIT), None
    except KeyboardInterrupt:
        return fail(prog, "interrupted", INTERRUPTED_EXIT), None
    return 0, value


def program_name() -> str:
    """The name the user typed to start this process (for messages)."""
    return click.format_filename(sys.argv[0]).rsplit("/", 1)[-1] or "xptrack"
