"""Code context: the source of every step of an experiment, as one text per trial."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from xptrack.domain.environment import as_text_mapping


@attrs.frozen
class CodeContext:
    """Step name -> its source (decorators included), in definition order."""

    sources: Mapping[str, str] = attrs.field(factory=dict, converter=as_text_mapping)

    @property
    def text(self) -> str:
        """All sources as one text, the way ``get_code`` shows and the store keeps it: two
        blank lines between steps, in definition order (as daskperiment wrote it)."""
        return "\n\n".join(source.rstrip("\n") + "\n" for source in self.sources.values())

    def changed_steps(self, previous_text: str) -> list[str]:
        """Steps whose current source does not appear in the previous trial's code text."""
        return [name for name, source in self.sources.items() if source not in previous_text]
