"""A trial's labels: the tags and the note a user gives it after (or while) it runs.

Labels are kept apart from the rest of a trial's record: the record is rewritten by
the trial's own process (its heartbeat, its end), the labels by people, and neither
may overwrite the other. Stores keep them apart and merge them on read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from xptrack.domain.errors import InvalidArgument

MAX_TAG_LENGTH = 100
TAG_RULE = (
    f"a non-empty string of at most {MAX_TAG_LENGTH} printable characters, "
    "not starting or ending with a space"
)


@attrs.frozen
class TrialLabels:
    """Tags (sorted, each once) and a free-text note."""

    tags: tuple[str, ...] = ()
    note: str = ""


def _tag_tuple(tags: Iterable[str]) -> tuple[str, ...]:
    return tuple(tags)


@attrs.frozen
class LabelChange:
    """Tags to add, then tags to remove, and the new note (None: keep the note)."""

    add_tags: tuple[str, ...] = attrs.field(default=(), converter=_tag_tuple)
    remove_tags: tuple[str, ...] = attrs.field(default=(), converter=_tag_tuple)
    note: str | None = None

    def applied_to(self, labels: TrialLabels) -> TrialLabels:
        """``labels`` after this change."""
        tags = (set(labels.tags) | set(self.add_tags)) - set(self.remove_tags)
        return TrialLabels(tuple(sorted(tags)), labels.note if self.note is None else self.note)


def validate_tag(value: Any) -> str:
    """Return ``value`` if it is a valid tag, else raise :class:`InvalidArgument`.

    >>> validate_tag("best")
    'best'
    """
    if not isinstance(value, str):
        raise InvalidArgument(f"a tag must be {TAG_RULE}; got {type(value).__name__} {value!r}")
    too_long = len(value) > MAX_TAG_LENGTH
    if not value or too_long or value != value.strip() or not value.isprintable():
        raise InvalidArgument(f"invalid tag {value!r}: a tag is {TAG_RULE}")
    return value


def validate_note(value: Any) -> str:
    """Return ``value`` if it is a note (any text), else raise :class:`InvalidArgument`."""
    if not isinstance(value, str):
        raise InvalidArgument(f"a note must be a string; got {type(value).__name__} {value!r}")
    return value
