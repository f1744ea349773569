"""The record codec, for authors of third-party stores: what xptrack's own stores write.

A store keeps text and bytes; these functions turn the port's values into them and
back, exactly (NaN, tuples, big ints, NumPy scalars, datetimes with their offset,
objects that only pickle), and refuse what xptrack did not write with
:class:`~xptrack.errors.CorruptRecord`. Using them is the way to pass the contract's
exact round trips. See docs/writing-a-backend.md for a complete adapter built on them.

>>> from xptrack.codec import trial_from_json, trial_to_json
>>> record == trial_from_json(trial_to_json(record))      # doctest: +SKIP
True
"""

from xptrack.adapters.serialization import (
    CHUNK_POINTS,
    cached_output_from_bytes,
    cached_output_to_bytes,
    decode_metric_chunks,
    environment_from_json,
    environment_to_json,
    labelled,
    labels_from_json,
    labels_to_json,
    metric_rows,
    trial_from_json,
    trial_to_json,
)
from xptrack.domain.labels import TrialLabels

__all__ = [
    "CHUNK_POINTS",
    "TrialLabels",
    "cached_output_from_bytes",
    "cached_output_to_bytes",
    "decode_metric_chunks",
    "environment_from_json",
    "environment_to_json",
    "labelled",
    "labels_from_json",
    "labels_to_json",
    "metric_rows",
    "trial_from_json",
    "trial_to_json",
]
