"""Credentials for the dashboard's operator actions, from a file.

The file holds a token line and/or ``user:password`` lines (``#`` comments)::

    token: 8c1f...            # Authorization: Bearer 8c1f...
    ops-alice:s3cret          # HTTP basic auth

Each check compares in constant time (``hmac.compare_digest``). Who acted is the basic-auth user, or
``token`` for the bearer token. A file readable by others is refused (it holds secrets).
"""
from __future__ import annotations

import base64
import binascii
import hmac
import os
import stat
from dataclasses import dataclass, field

__all__ = ["Credentials", "CredentialsError", "load_credentials", "parse_credentials"]


class CredentialsError(ValueError):
    """The credentials file cannot be used (the message says what to fix)."""


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    users: dict[str, str] = field(default_factory=dict)

    def check(self, authorization: str | None) -> str | None:
        """Who the ``Authorization`` header names, or None when it is missing or wrong."""
        if not authorization:
            return None
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme == "bearer" and self.token is not None:
            if hmac.compare_digest(value.encode("utf-8", "replace"), self.token.encode("utf-8")):
                return "token"
            return None
        if scheme == "basic" and self.users:
            if len(value) > 1024:
                return None
            try:
                raw = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
            user, sep, password = raw.partition(":")
            if not sep:
                return None
            expected = self.users.get(user)
            # compare against something even for an unknown user (no timing oracle for user names)
            ok = hmac.compare_digest(password.encode("utf-8"), (expected or "\0" * 16).encode("utf-8"))
            return user if ok and expected is not None else None
        return None


def parse_credentials(text: str) -> Credentials:
    token: str | None = None
    users: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("token:"):
            token = line.split(":", 1)[1].strip()
            if len(token) < 16:
                raise CredentialsError(f"line {n}: the token must have at least 16 characters")
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise CredentialsError(f"line {n}: use 'token: SECRET' or 'user:password'")
        users[user] = password
    if token is None and not users:
        raise CredentialsError("no token and no user:password line")
    return Credentials(token, users)


def load_credentials(path: str) -> Credentials:
    try:
        st = os.stat(path)
        if st.st_mode & (stat.S_IRWXO | stat.S_IRWXG) & (stat.S_IROTH | stat.S_IRGRP):
            raise CredentialsError(f"{path}: readable by others; run: chmod 600 {path}")
        with open(path, encoding="utf-8") as f:
            return parse_credentials(f.read())
    except OSError as exc:
        raise CredentialsError(f"{path}: {exc.strerror or exc}") from exc
    except CredentialsError as exc:
        if str(exc).startswith(path):
            raise
        raise CredentialsError(f"{path}: {exc}") from None
