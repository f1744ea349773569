"""Text to UTF-8 and back with xptrack's errors, as every store keeps its texts.

A text with a lone surrogate has no UTF-8 form (nor a BSON or SQL one): storing it is
:class:`~xptrack.errors.UnstorableValue`, named by :func:`unencodable`. Stored bytes that
are not UTF-8 were not written by xptrack: reading them is :class:`~xptrack.errors.CorruptRecord`.
"""

from __future__ import annotations

from xptrack.domain.errors import CorruptRecord, UnstorableValue


def unencodable(error: UnicodeEncodeError) -> str:
    """What is wrong with the text ``error`` was raised for, and what is accepted."""
    return (
        f"a text holds {error.object[error.start : error.end]!r}, which is not valid Unicode "
        "(a lone surrogate?); accepted: text that encodes as UTF-8"
    )


def encoded(text: str) -> bytes:
    """``text`` as UTF-8; UnstorableValue when it has no UTF-8 form."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise UnstorableValue(unencodable(error)) from error


def decoded(data: bytes, what: str) -> str:
    """``data`` as text; CorruptRecord naming ``what`` when it is not the UTF-8 xptrack writes."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorruptRecord(
            f"the stored {what} is not UTF-8 text ({error}); xptrack writes UTF-8 there, so "
            "the record was damaged or written by something else"
        ) from error
