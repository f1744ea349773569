"""What a trial ran on: one text per category, as the seed stores them."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping

import attrs

from xptrack.domain.errors import InvalidArgument

#: The seed's categories, in its order, with the file format each is stored in.
CATEGORY_FORMATS: Mapping[str, str] = {
    "device": "json",
    "cpu": "json",
    "python": "json",
    "numpy": "txt",
    "scipy": "txt",
    "pandas": "txt",
    "conda": "txt",
    "git": "json",
    "requirements": "txt",
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_FORMATS)
#: daskperiment's names of categories -> ours.
CATEGORY_ALIASES: Mapping[str, str] = {"platform": "device"}


def as_text_mapping(value: Mapping[str, str]) -> dict[str, str]:
    """A plain dict copy (attrs converter: snapshots never share a caller's mapping)."""
    return dict(value)


@attrs.frozen
class EnvironmentSnapshot:
    """Category name -> the text captured for it (JSON text for the ``json`` categories)."""

    categories: Mapping[str, str] = attrs.field(factory=dict, converter=as_text_mapping)

    @categories.validator
    def _known_categories(
        self, _: attrs.Attribute[Mapping[str, str]], value: Mapping[str, str]
    ) -> None:
        unknown = sorted(set(value) - set(CATEGORY_FORMATS))
        if unknown:
            raise InvalidArgument(
                f"unknown environment categories {unknown}; accepted: {', '.join(CATEGORIES)}"
            )
        wrong = sorted(name for name, text in value.items() if not isinstance(text, str))
        if wrong:
            raise InvalidArgument(f"environment categories {wrong} must hold text (str)")

    def __getitem__(self, category: str) -> str:
        return self.categories[category]

    def __iter__(self) -> Iterator[str]:
        return iter(self.categories)

    def changes_since(self, previous: EnvironmentSnapshot) -> dict[str, str]:
        """Category -> unified diff, for every category whose text differs from ``previous``."""
        changed: dict[str, str] = {}
        for category, text in self.categories.items():
            before = previous.categories.get(category)
            if before is not None and before != text:
                changed[category] = unified_diff(before, text, category)
        return changed


def unified_diff(before: str, after: str, name: str) -> str:
    """A unified diff of two texts, labelled ``name`` (the lines a person reads in a warning)."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{name} (previous)",
        tofile=f"{name} (current)",
    )
    return "".join(lines)
