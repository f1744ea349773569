"""The NotFoundError each store raises for what was never saved: one message per kind of
record, so that every store says the same thing (and the contract's model does too)."""

from __future__ import annotations

from xptrack.domain.errors import NotFoundError


def no_trial(trial_id: int) -> NotFoundError:
    """No record of trial ``trial_id`` was saved (or it was deleted)."""
    return NotFoundError(f"no trial {trial_id} in this experiment")


def no_metric(trial_id: int, key: str) -> NotFoundError:
    """Trial ``trial_id`` saved no point of metric ``key``."""
    return NotFoundError(f"no metric {key!r} in trial {trial_id}")


def no_persisted(step: str, trial_id: int) -> NotFoundError:
    """Step ``step`` persisted no output in trial ``trial_id``."""
    return NotFoundError(f"no persisted output of step {step!r} in trial {trial_id}")


def no_text(what: str, trial_id: int) -> NotFoundError:
    """No ``what`` (code, environment, output) was saved for trial ``trial_id``."""
    return NotFoundError(f"no {what} saved for trial {trial_id}")
