"""Keeping passwords out of what people read: reprs, logs, errors and stored records.

One rule for every store and probe: a URL keeps its user name and loses its password
and secret options to ``***``; a text that may quote a password has it replaced.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import quote, unquote

REDACTED = "***"
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")
_PASSWORD_FREE_SCHEMES = frozenset({"ssh://", "git+ssh://", "ssh+git://"})


def redact_url(url: str, secret_options: Collection[str] = ("password",)) -> str:
    """``url`` with the password of its user part and the values of ``secret_options``
    (query options, compared case-insensitively) replaced by ``***``.

    >>> redact_url("redis://:s3cret@localhost:6379/0")
    'redis://:***@localhost:6379/0'
    >>> redact_url("mongodb://ann:pw@db:27017/lab?authSource=admin")
    'mongodb://ann:***@db:27017/lab?authSource=admin'
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return redact_url_credentials(url)
    rest, hashmark, fragment = rest.partition("#")
    rest, qmark, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{REDACTED}@{hosts}"
    secrets = {option.lower() for option in secret_options}
    if query:
        query = "&".join(_redact_option(item, secrets) for item in query.split("&"))
    return f"{scheme}://{netloc}{slash}{path}{qmark}{query}{hashmark}{fragment}"


def _redact_option(item: str, secrets: set[str]) -> str:
    key, equals, _ = item.partition("=")
    return f"{key}={REDACTED}" if equals and key.lower() in secrets else item


def redact_url_credentials(text: str) -> str:
    """``text`` with the secret of every ``scheme://user:secret@host`` URL in it replaced.

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
        if scheme.lower() in _PASSWORD_FREE_SCHEMES:
            return match[0]
        return f"{scheme}{REDACTED}@"

    return _URL_USERINFO.sub(hide, text)


def scrub(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (as given, percent-encoded or decoded) replaced by ``***``:
    driver messages should never quote a password, and this makes sure they cannot."""
    if secret:
        for form in {str(secret), quote(str(secret), safe=""), unquote(str(secret))}:
            text = text.replace(form, REDACTED)
    return text
