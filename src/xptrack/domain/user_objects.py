"""A user's own object as a trial record holds it once stored: a placeholder, never unpickled.

How such an object is pickled, signed and loaded is the user-object codec's business
(``xptrack.ports.user_objects``); the domain only names what the history shows.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class PickledValue:
    """A user's object as stored, not unpickled (unpickling may run code).

    What the history, metrics, diff, export, the CLI and the dashboard show, as
    ``<pickled TYPE, N bytes>``; the user-object codec loads it (checking its signature when
    a key is set), as only the calls handing this one value to the user do
    (``get_parameters(n)``, ``get_persisted``).

    >>> PickledValue("mymodule.Model", b"\\x80\\x05.")
    <pickled mymodule.Model, 3 bytes>
    """

    type_name: str
    data: bytes

    def __repr__(self) -> str:
        return f"<pickled {self.type_name}, {len(self.data)} bytes>"

    __str__ = __repr__
