"""Step hashes: what a step's inputs and output hashed to, for the purity check."""

from __future__ import annotations

import attrs


@attrs.frozen
class StepHash:
    """One step called with one set of inputs gave an output with this hash."""

    step: str
    input_hash: str
    output_hash: str

    @property
    def key(self) -> str:
        """The seed's key: ``<step>-<input hash>``."""
        return f"{self.step}-{self.input_hash}"

    def conflicts_with(self, previous_output_hash: str | None) -> bool:
        """True when the same inputs gave a different output before (an impure step)."""
        return previous_output_hash is not None and previous_output_hash != self.output_hash
