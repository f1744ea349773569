"""Code and environment texts on Redis, each distinct content stored once per experiment.

A trial in an unchanged environment repeats the nine texts of the trial before (~10 KB);
kept once, they cost one key each for the whole experiment. The per-trial keys of the seed's
layout (``<id>:code:<trial>``, ``<id>:<category>:<trial>``) stay, each holding a reference::

    <id>:code:<trial>        b"\\xfftext:<digest>"  (a reference)
    <id>:text:<digest>       the text (<digest>: the first 32 hex digits of its SHA-256)
    <id>:text_refs           hash: <digest> -> how many per-trial keys refer to the text

A reference starts with the byte 0xFF, which no UTF-8 text holds, so a per-trial key holding
the text itself (the seed's layout, written by earlier versions) is never mistaken for one
and still reads as it is. Each write and delete of per-trial keys is one Lua script (atomic
on the server): it counts the references it adds and drops, and removes a text the moment no
key refers to it any more. The script names the text keys it derives from the references it
reads (a standalone server allows it; the layout was never one for Redis Cluster).
Repeating a script (a retry after a dropped connection) changes nothing more: setting a key
to the reference it holds leaves every count as it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import redis

from xptrack.domain.errors import CorruptRecord

#: What a reference starts with: a byte no UTF-8 text holds, then the text key's suffix.
MARK = b"\xff"
_TEXT = "text:"

# KEYS: the reference counts, then the per-trial keys. ARGV: the experiment's key prefix, then
# per key its text's digest (empty: delete the key) and the text.
PUT_TEXTS = r"""
local refs, prefix = KEYS[1], ARGV[1]
for i = 2, #KEYS do
  local digest, text = ARGV[2 * i - 2], ARGV[2 * i - 1]
  local reference = digest ~= '' and ('\255text:' .. digest) or false
  local old = redis.call('GET', KEYS[i])
  if old ~= reference then
    if old and string.byte(old, 1) == 255 then
      local dropped = string.sub(old, 7)
      if redis.call('HINCRBY', refs, dropped, -1) <= 0 then
        redis.call('HDEL', refs, dropped)
        redis.call('UNLINK', prefix .. 'text:' .. dropped)
      end
    end
    if reference then
      if redis.call('HINCRBY', refs, digest, 1) == 1 then
        redis.call('SET', prefix .. 'text:' .. digest, text)
      end
      redis.call('SET', KEYS[i], reference)
    elseif old then
      redis.call('DEL', KEYS[i])
    end
  end
end
return 1
"""

# KEYS: keys to read. ARGV: the experiment's key prefix. Each value, references replaced by
# the text they name (a reference to a missing text comes back as it is).
READ_TEXTS = r"""
local values = {}
for i = 1, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if value and string.byte(value, 1) == 255 then
    value = redis.call('GET', ARGV[1] .. string.sub(value, 2)) or value
  end
  values[i] = value
end
return values
"""


def digest(text: str) -> str:
    """The name ``text`` is kept under: the first 32 hex digits of its UTF-8 SHA-256 (a text
    with no UTF-8 form raises UnicodeEncodeError, as storing it would)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def text_key(prefix: str, name: str) -> str:
    """The key a text named ``name`` is kept under in the experiment of key ``prefix``."""
    return f"{prefix}{_TEXT}{name}"


def refs_key(prefix: str) -> str:
    """The hash of reference counts of the experiment of key ``prefix``."""
    return f"{prefix}text_refs"


def put_texts(
    client: redis.Redis | redis.client.Pipeline,
    prefix: str,
    writes: Sequence[tuple[str, str | None]],
) -> None:
    """Set each per-trial key of ``writes`` to refer to its text, or delete it where the text
    is None, in one atomic step (queued only, when ``client`` is a pipeline)."""
    if not writes:
        return
    keys, args = [refs_key(prefix)], [prefix]
    for key, text in writes:
        keys.append(key)
        args += ["", ""] if text is None else [digest(text), text]
    # EVAL, not EVALSHA: one round trip whatever the server's script cache holds.
    client.eval(PUT_TEXTS, len(keys), *keys, *args)


def read_texts(client: redis.Redis, prefix: str, keys: Sequence[str]) -> list[bytes | None]:
    """The value of each of ``keys`` (None when missing), a reference replaced by its text, in
    one atomic step; CorruptRecord when a reference names a text that is not stored."""
    values: list[bytes | None] = list(client.eval(READ_TEXTS, len(keys), *keys, prefix))
    for key, value in zip(keys, values, strict=True):
        if value is not None and value.startswith(MARK):
            raise CorruptRecord(f"{key} refers to a text that is not stored: {value[1:60]!r}")
    return values
