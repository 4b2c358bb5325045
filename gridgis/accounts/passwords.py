"""Passwords: argon2id hashes (memory-hard), a length policy, generated passwords."""

from __future__ import annotations

import secrets
import threading
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gridgis.errors import InvalidInput

MIN_LENGTH = 10
# argon2 hashes any length, but a megabyte-long "password" is only a way to burn CPU.
MAX_LENGTH = 1024

# argon2-cffi's defaults are RFC 9106's second recommendation: 64 MiB, 3 passes, 4 lanes.
_hasher = PasswordHasher()
# Each hash holds 64 MiB while it runs: a flood of sign-ins in forty request threads would
# hold gigabytes. A few at a time keep both cores busy; the rest wait their turn.
CONCURRENT_HASHES = 2
_hash_slots = threading.BoundedSemaphore(CONCURRENT_HASHES)


def check_policy(password: str) -> None:
    """InvalidInput unless the password is MIN_LENGTH..MAX_LENGTH characters."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInput(
            f"A password must be {MIN_LENGTH} to {MAX_LENGTH} characters.", field="password"
        )


def hash_password(password: str) -> str:
    """The stored form: an argon2id hash string (salt and parameters included)."""
    check_policy(password)
    with _hash_slots:
        return _hasher.hash(password)


def rehash(password: str) -> str:
    """A fresh hash of a password that was just verified (no policy check: it predates it)."""
    with _hash_slots:
        return _hasher.hash(password)


@cache
def _decoy_hash() -> str:
    # Verified against when the user does not exist, so that an unknown name takes as long
    # to refuse as a wrong password.
    with _hash_slots:
        return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches `stored_hash` (None: burn the same time, then False)."""
    if len(password) > MAX_LENGTH:
        return False
    target = stored_hash or _decoy_hash()
    try:
        with _hash_slots:
            return _hasher.verify(target, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored_hash)


def generate_password() -> str:
    """A random password (144 bits, URL-safe characters)."""
    return secrets.token_urlsafe(18)
