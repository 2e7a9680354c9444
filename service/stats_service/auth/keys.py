"""Signing-key material: generate keys, flag unsafe ones, and keep them in private files.

A key file holds one secret key per line, the signing key first (see
:class:`~stats_service.auth.tokens.TokenSigner`); blank lines and lines starting with ``#``
are ignored. Key files, like the access file, are written atomically with mode ``0600``
through :func:`write_private_file`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

__all__ = [
    "DEV_KEY_PREFIX",
    "MIN_SECRET_KEY_LENGTH",
    "generate_secret_key",
    "is_unsafe_secret_key",
    "read_key_file",
    "write_key_file",
    "write_private_file",
]

DEV_KEY_PREFIX: Final = "dev-"
"""Marks a key generated for development; production settings must refuse it."""

MIN_SECRET_KEY_LENGTH: Final = 32
"""Shorter keys are considered unsafe."""

_KEY_FILE_HEADER: Final = (
    "# stats-service signing keys: one per line; the first signs, all verify.\n"
)


def generate_secret_key(*, development: bool) -> str:
    """A new random URL-safe key (64 characters), prefixed ``dev-`` when ``development``."""
    key = secrets.token_urlsafe(48)
    return f"{DEV_KEY_PREFIX}{key}" if development else key


def is_unsafe_secret_key(key: str) -> bool:
    """Whether ``key`` must not sign production tokens: a development key or a short one."""
    return key.startswith(DEV_KEY_PREFIX) or len(key.strip()) < MIN_SECRET_KEY_LENGTH


def read_key_file(path: Path) -> list[str]:
    """The keys in a key file, in order (signing key first); ``OSError`` if unreadable."""
    keys: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        key = line.strip()
        if key and not key.startswith("#"):
            keys.append(key)
    return keys


def write_key_file(path: Path, keys: Sequence[str]) -> None:
    """Write ``keys`` (signing key first) to ``path`` atomically with mode ``0600``.

    ``ValueError`` if there are no keys or a key would not read back unchanged.
    """
    if isinstance(keys, str):
        raise TypeError("keys must be a sequence of keys, not one string")
    if not keys:
        raise ValueError("a key file needs at least one key")
    for key in keys:
        if not key or key != key.strip() or key.startswith("#") or len(key.splitlines()) != 1:
            raise ValueError(
                "each key must be one non-empty line without surrounding whitespace "
                "and must not start with '#'"
            )
    text = _KEY_FILE_HEADER + "".join(f"{key}\n" for key in keys)
    write_private_file(path, text.encode("utf-8"))


def write_private_file(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically; the file gets mode ``0600``.

    Missing parent directories are created (mode ``0700``). The data goes to a temporary
    file in the same directory, is flushed to disk, and is renamed over ``path``, so readers
    see either the old or the new content, never a mix.
    """
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600 whatever the umask.
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    temp_path = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp_path.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp_path.unlink()
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; some platforms cannot open directories, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
