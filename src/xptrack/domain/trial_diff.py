"""``TrialDiff``: what differs between two trials, readable (``str``) and as JSON data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from xptrack.domain.diffing import Change, PackageChanges, changes_dict, indent, json_ready

#: A JSON category's changed keys, or a text category's unified diff.
EnvironmentChange = dict[str, Change] | str


@attrs.frozen
class TrialDiff:
    """The differences between trial ``a`` and trial ``b`` of one experiment.

    Each part holds only what differs: ``parameters`` (name -> Change), ``seed``,
    ``result``, ``status`` and ``error`` (a Change or None), ``code`` (step -> unified diff),
    ``environment`` (category -> changed keys or unified diff), ``packages`` (added /
    removed / changed versions), ``git`` (commit, branch, dirty state). ``notes`` says what
    could not be compared (a record one trial does not have).

    >>> print(ex.diff(1, 2))                                 # doctest: +SKIP
    Trial 1 -> trial 2 of experiment quickstart
    Parameters:
      b: 2 -> 3
    """

    experiment_id: str
    a: int
    b: int
    parameters: dict[str, Change] = attrs.field(factory=dict)
    seed: Change | None = None
    result: Change | None = None
    status: Change | None = None
    error: Change | None = None
    code: dict[str, str] = attrs.field(factory=dict)
    environment: dict[str, EnvironmentChange] = attrs.field(factory=dict)
    packages: PackageChanges = attrs.field(factory=PackageChanges)
    git: dict[str, Change] = attrs.field(factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def identical(self) -> bool:
        """True when nothing that was compared differs."""
        return not (
            self.parameters
            or self.seed
            or self.result
            or self.status
            or self.error
            or self.code
            or self.environment
            or self.packages
            or self.git
        )

    def __str__(self) -> str:
        header = f"Trial {self.a} -> trial {self.b} of experiment {self.experiment_id}"
        lines = [header if not self.identical else header + ": no differences"]
        lines += _section("Parameters", _change_lines(self.parameters))
        for label, change in (
            ("Seed", self.seed),
            ("Result", self.result),
            ("Status", self.status),
            ("Error", self.error),
        ):
            if change is not None:
                lines.append(f"{label}: {change}")
        lines += _section("Code", _code_lines(self.code))
        lines += _section("Environment", _environment_lines(self.environment))
        lines += _section("Packages", _package_lines(self.packages))
        lines += _section("Git", _change_lines(self.git))
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The diff as JSON data (what the dashboard's ``/diff`` endpoint answers)."""

        def single(change: Change | None) -> dict[str, Any] | None:
            return None if change is None else changes_dict({"_": change})["_"]

        return {
            "experiment": self.experiment_id,
            "a": self.a,
            "b": self.b,
            "identical": self.identical,
            "parameters": changes_dict(self.parameters),
            "seed": single(self.seed),
            "result": single(self.result),
            "status": single(self.status),
            "error": single(self.error),
            "code": dict(self.code),
            "environment": {
                category: change if isinstance(change, str) else changes_dict(change)
                for category, change in self.environment.items()
            },
            "packages": {
                "added": dict(self.packages.added),
                "removed": dict(self.packages.removed),
                "changed": changes_dict(self.packages.changed),
            },
            "git": changes_dict(self.git),
            "notes": [json_ready(note) for note in self.notes],
        }


def _section(title: str, body: list[str]) -> list[str]:
    return [f"{title}:", *indent(body)] if body else []


def _change_lines(changes: Mapping[str, Change]) -> list[str]:
    return [f"{name}: {change}" for name, change in changes.items()]


def _code_lines(code: Mapping[str, str]) -> list[str]:
    lines = []
    for step, diff in code.items():
        lines.append(f"step {step}:")
        lines += indent(diff.rstrip("\n").splitlines())
    return lines


def _environment_lines(environment: Mapping[str, EnvironmentChange]) -> list[str]:
    lines = []
    for category, change in environment.items():
        lines.append(f"{category}:")
        if isinstance(change, str):
            lines += indent(change.rstrip("\n").splitlines())
        else:
            lines += indent(_change_lines(change))
    return lines


def _package_lines(packages: PackageChanges) -> list[str]:
    lines = [f"added: {name} {version}" for name, version in packages.added.items()]
    lines += [f"removed: {name} {version}" for name, version in packages.removed.items()]
    lines += [
        f"changed: {name} {change.before} -> {change.after}"
        for name, change in packages.changed.items()
    ]
    return lines
