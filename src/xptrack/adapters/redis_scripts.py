"""Redis writes made safe to repeat: a metric batch applied at most once, however often the
driver sends it.

A command that timed out may still run when a paused server wakes, and a connection dropped
after a command ran makes the driver send it again. Appending is not idempotent, so a batch
of metric points carries an id: a Lua script (atomic on the server) appends the batch only if
its id was not seen, and remembers the id for an hour (retries come within seconds).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import redis

#: How long a batch id is remembered, in seconds: far longer than any retry takes.
BATCH_ID_TTL = 3600
#: Elements per RPUSH inside the script (Lua's ``unpack`` has a stack limit).
_PUSH_GROUP = 1000

# KEYS: the batch marker, then per series its list key and its trial's metric-key set.
# ARGV: the marker's TTL, then per series: element count, the elements, the metric key.
APPEND_ONCE = f"""
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then return 0 end
local at = 2
for i = 2, #KEYS, 2 do
  local count = tonumber(ARGV[at])
  for first = at + 1, at + count, {_PUSH_GROUP} do
    local last = math.min(first + {_PUSH_GROUP - 1}, at + count)
    redis.call('RPUSH', KEYS[i], unpack(ARGV, first, last))
  end
  at = at + count + 1
  redis.call('SADD', KEYS[i + 1], ARGV[at])
  at = at + 1
end
return 1
"""


def new_batch_marker(prefix: str) -> str:
    """A fresh key marking one batch as applied (under the experiment's prefix, so deleting
    the experiment removes it too)."""
    return f"{prefix}metric_batch:{uuid.uuid4().hex}"


def append_once(
    client: redis.Redis, marker: str, series: Sequence[tuple[str, str, str, Sequence[str]]]
) -> bool:
    """Append each ``(list key, metric-key set, metric key, elements)`` in one atomic step,
    unless the batch ``marker`` was applied already; True when it was applied now."""
    keys, args = [marker], [str(BATCH_ID_TTL)]
    for list_key, keys_set, metric_key, elements in series:
        keys += [list_key, keys_set]
        args += [str(len(elements)), *elements, metric_key]
    # EVAL, not EVALSHA: one round trip whatever the server's script cache holds, so a batch
    # sent to a paused server is applied when it wakes rather than refused as an unknown sha.
    return bool(client.eval(APPEND_ONCE, len(keys), *keys, *args))
