"""Keeping passwords out of what people read: reprs, logs, errors and stored records.

One rule for every store and probe: a URL keeps its user name and loses its password
and secret options to ``***``; a text that may quote a password has it replaced.

A URL given whole (a backend URI, a git remote) is redacted however it is spelled: with
one slash or none after its scheme (``redis:/:pw@host/0``), and with a password holding
characters a URL should have percent-encoded (``#``, ``/``, ``?``, ``@``, spaces). Its
user part runs to the *last* ``@``: when in doubt, more is hidden, never less.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import quote, unquote

REDACTED = "***"
#: A scheme and the slashes after it, however many (``redis:/``, ``https://``, ``file:///``).
_WHOLE_URL_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?P<slashes>/*)")
#: A URL inside free text: only the usual characters can belong to its user part there.
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*:/{1,3})(?P<userinfo>[^/?#\s@]*(?:@[^/?#\s@]*)*)@"
)
_URL_DELIMITERS = re.compile(r"[/?#\s]")
_PASSWORD_FREE_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})


def _split_whole_url(url: str) -> tuple[str, str, str | None, str] | None:
    """(scheme, scheme with its slashes, user part or None, the rest) of ``url``; None when
    ``url`` does not start with a scheme."""
    match = _WHOLE_URL_SCHEME.match(url)
    if match is None:
        return None
    userinfo, at, rest = url[match.end() :].rpartition("@")
    return match["scheme"].lower(), match[0], (userinfo if at else None), rest


def password_of(url: str) -> str | None:
    """The password in the user part of ``url`` (percent-decoded), however the URL is
    spelled; None when it has none.

    >>> password_of("redis:/:p#w@localhost/0")
    'p#w'
    """
    raw = _raw_password(url)
    return unquote(raw) if raw else None


def _raw_password(url: str) -> str | None:
    parts = _split_whole_url(url) if isinstance(url, str) else None
    if parts is None or parts[2] is None or ":" not in parts[2]:
        return None
    return parts[2].partition(":")[2]


def redact_url(
    url: str, secret_options: Collection[str] = ("password",), *, hide_token: bool = False
) -> str:
    """``url`` with the password of its user part and the values of ``secret_options``
    (query options, compared case-insensitively) replaced by ``***``. With ``hide_token``,
    a user part without a password is hidden too (an https token), except for ssh.

    >>> redact_url("redis://:s3cret@localhost:6379/0")
    'redis://:***@localhost:6379/0'
    >>> redact_url("mongodb://ann:pw@db:27017/lab?authSource=admin")
    'mongodb://ann:***@db:27017/lab?authSource=admin'
    >>> redact_url("mongodb:/ann:p/w?x@db/lab")
    'mongodb:/ann:***@db/lab'
    """
    parts = _split_whole_url(url)
    if parts is None:
        return redact_url_credentials(url)
    scheme, head, userinfo, rest = parts
    secrets = {option.lower() for option in secret_options}
    rest = _redact_query(rest, secrets)
    if userinfo is None:
        return head + rest
    user, colon, _ = userinfo.partition(":")
    if colon:
        return f"{head}{user}:{REDACTED}@{rest}"
    if hide_token and scheme not in _PASSWORD_FREE_SCHEMES and "/" not in userinfo:
        return f"{head}{REDACTED}@{rest}"
    return f"{head}{userinfo}@{rest}"


def _redact_query(rest: str, secrets: set[str]) -> str:
    rest, hashmark, fragment = rest.partition("#")
    rest, qmark, query = rest.partition("?")
    if query:
        query = "&".join(_redact_option(item, secrets) for item in query.split("&"))
    return f"{rest}{qmark}{query}{hashmark}{fragment}"


def _redact_option(item: str, secrets: set[str]) -> str:
    key, equals, _ = item.partition("=")
    return f"{key}={REDACTED}" if equals and key.lower() in secrets else item


def redact_url_credentials(text: str) -> str:
    """``text`` with the secret of every ``scheme://user:secret@host`` URL in it replaced
    (one to three slashes after the scheme).

    A bare user part of an http(s)-like URL is often a token, so it is hidden too; ssh
    user names (``ssh://git@host``) are kept::

        >>> redact_url_credentials("https://user:secret@example.com/r.git")
        'https://user:***@example.com/r.git'
        >>> redact_url_credentials("https://ghp_token@github.com/o/r.git")
        'https://***@github.com/o/r.git'
    """

    def hide(match: re.Match[str]) -> str:
        scheme, userinfo = match["scheme"], match["userinfo"]
        if ":" in userinfo:
            return f"{scheme}{userinfo.split(':', 1)[0]}:{REDACTED}@"
        if scheme.rstrip("/").rstrip(":").lower() in _PASSWORD_FREE_SCHEMES:
            return match[0]
        return f"{scheme}{REDACTED}@"

    return _URL_USERINFO.sub(hide, text)


def scrub(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (as given, percent-encoded or decoded) replaced by ``***``:
    driver messages should never quote a password, and this makes sure they cannot."""
    if secret:
        for form in sorted({str(secret), quote(str(secret), safe=""), unquote(str(secret))}):
            text = text.replace(form, REDACTED)
    return text


def unencoded_password(url: str) -> bool:
    """True when the password of ``url`` holds a character that must be percent-encoded
    there (``/``, ``?``, ``#``, a space): parsers cut it at that character and may quote the
    pieces, so such a URI is refused before any parser sees it.

    >>> unencoded_password("redis://:pa/ss@host/0"), unencoded_password("redis://:pa%2Fss@host/0")
    (True, False)
    """
    password = _raw_password(url)
    return password is not None and _URL_DELIMITERS.search(password) is not None
