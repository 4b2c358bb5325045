"""Secrets on disk (the pepper, the database password, the dev API key): written without
following symbolic links, through a new file renamed into place, readable by the owner only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private(path: Path, content: str) -> None:
    """Write `content` to `path` (mode 600). A symbolic link at `path` is replaced, never
    followed: the data goes to a new file (O_EXCL | O_NOFOLLOW) that is renamed over it."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_private(path: Path) -> str:
    """Read a file written by write_private; refuses a symbolic link (OSError)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(descriptor, encoding="utf-8") as source:
        return source.read()
