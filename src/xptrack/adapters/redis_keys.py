"""The key names of one experiment on Redis (the layout is in :mod:`xptrack.adapters.redis`)."""

from __future__ import annotations

from xptrack.domain.step_hash import StepHash


class ExperimentKeys:
    """The key names of one experiment: the seed's layout plus the index keys."""

    def __init__(self, experiment_id: str) -> None:
        self.prefix = f"{experiment_id}:"
        self.trial_id = f"{experiment_id}:trial_id"
        self.trials = f"{experiment_id}:trials"

    def parameter(self, trial_id: int) -> str:
        return f"{self.prefix}parameter:{trial_id}"

    def history(self, trial_id: int) -> str:
        return f"{self.prefix}history:{trial_id}"

    def labels(self, trial_id: int) -> str:
        return f"{self.prefix}labels:{trial_id}"

    def persisted(self, trial_id: int) -> str:
        return f"{self.prefix}persisted:{trial_id}"

    def persist(self, step: str, trial_id: int) -> str:
        return f"{self.prefix}persist:{step}:{trial_id}"

    def metric(self, key: str, trial_id: int) -> str:
        return f"{self.prefix}metric:{key}:{trial_id}"

    def metric_keys(self, trial_id: int) -> str:
        return f"{self.prefix}metric_keys:{trial_id}"

    def step_hash(self, step_hash: StepHash) -> str:
        return f"{self.prefix}step_hash:{step_hash.key}"

    def step_cache(self, step: str, key: str) -> str:
        return f"{self.prefix}step_cache:{step}:{key}"

    def step_cache_of(self, trial_id: int) -> str:
        return f"{self.prefix}step_cache_of:{trial_id}"

    def code(self, trial_id: int) -> str:
        return f"{self.prefix}code:{trial_id}"

    def output(self, trial_id: int) -> str:
        return f"{self.prefix}output:{trial_id}"

    def category(self, category: str, trial_id: int) -> str:
        return f"{self.prefix}{category}:{trial_id}"

    def environment(self, trial_id: int) -> str:
        return f"{self.prefix}environment:{trial_id}"

    def pattern(self) -> str:
        """A SCAN pattern matching this experiment's keys and no other's."""
        return "".join(f"\\{c}" if c in "*?[]\\" else c for c in self.prefix) + "*"
