"""What an experiment is made of before any trial runs: its parameters and its steps."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from xptrack.application.runtime import StepKind, StepSpec
from xptrack.application.steps import Step, StepCall, Undefined
from xptrack.domain.code import CodeContext
from xptrack.domain.errors import InvalidArgument, UndefinedParameter, UnknownParameter
from xptrack.domain.names import validate_name

logger = logging.getLogger("xptrack.experiment")


class _NoDefault:
    """``ex.parameter(name)`` without a default: the parameter has no value until set."""

    def __repr__(self) -> str:
        return "<no default>"


NO_DEFAULT: Any = _NoDefault()


class Definition:
    """The parameters (with their current values) and the steps of one experiment.

    ``owner`` is the object step calls name as their experiment (the facade): a call of
    another experiment's step is refused.
    """

    def __init__(self, owner: object) -> None:
        self.owner = owner
        self.parameters: dict[str, Any] = {}
        self.steps: dict[str, Step] = {}

    # --- parameters ------------------------------------------------------------------------

    def declare(self, name: str, default: Any = NO_DEFAULT) -> None:
        """Declare ``name``; a default (None included) becomes its value. Declaring again
        without a default keeps the value it has."""
        validate_name(name, "parameter name")
        if name not in self.parameters or default is not NO_DEFAULT:
            self.parameters[name] = Undefined if default is NO_DEFAULT else default

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Set values of declared parameters; UnknownParameter names any other."""
        self._check_known(values)
        self.parameters.update(values)

    def _check_known(self, names: Mapping[str, Any]) -> None:
        unknown = sorted(set(names) - set(self.parameters))
        if unknown:
            declared = ", ".join(self.parameters) or "none yet"
            raise UnknownParameter(
                f"unknown parameters {unknown}; declared with ex.parameter(): {declared}"
            )

    # --- steps -----------------------------------------------------------------------------

    def define(self, step: Step) -> Step:
        """Add ``step``, replacing any step of the same name (its place in the code kept)."""
        old = self.steps.get(step.name)
        if old is not None and old.source != step.source:
            logger.info("Step %s is redefined: the new definition replaces the old one", step.name)
        self.steps[step.name] = step
        return step

    def specs(self, use_cache: bool = True) -> dict[str, StepSpec]:
        """The latest definition of every step, as tasks receive it (cached steps with their
        code fingerprint, unless ``use_cache`` is False)."""
        return {name: step.spec_for(use_cache) for name, step in self.steps.items()}

    def code_context(self) -> CodeContext:
        """The source of every step, in definition order."""
        return CodeContext({name: step.source for name, step in self.steps.items()})

    def steps_of_kind(self, kind: StepKind) -> Iterator[str]:
        """Names of the steps of ``kind``."""
        return (name for name, step in self.steps.items() if step.kind is kind)

    # --- what a trial runs with --------------------------------------------------------------

    def values_for(self, call: StepCall, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Every parameter's value for a trial of ``call`` with ``overrides``; refuses a call
        that is not of this experiment's result step, or a needed parameter with no value."""
        self._check_known(overrides)
        if call.experiment is not self.owner:
            raise InvalidArgument(f"{call!r} belongs to another experiment")
        step = self.steps.get(call.step)
        if step is None or step.kind is not StepKind.RESULT:
            raise InvalidArgument(
                f"compute() runs a trial and needs the result step's call; {call.step!r} is not "
                "decorated with @ex.result"
            )
        values = {**self.parameters, **overrides}
        missing = sorted({p.name for p in call.parameters() if values.get(p.name) is Undefined})
        if missing:
            raise UndefinedParameter(
                f"parameters {missing} have no value: set them with ex.set_parameters("
                + ", ".join(f"{name}=..." for name in missing)
                + ") before computing; nothing was recorded"
            )
        return values


def recordable(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values a trial records: those of parameters that have one."""
    return {name: value for name, value in values.items() if value is not Undefined}
