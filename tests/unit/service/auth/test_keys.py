"""Tests for stats_service.auth.keys: key generation, vetting and key files."""

from __future__ import annotations

import os
import re
import stat

import pytest

from stats_service.auth import (
    DEV_KEY_PREFIX,
    TokenClaims,
    TokenSigner,
    generate_secret_key,
    is_unsafe_secret_key,
    read_key_file,
    write_key_file,
)
from stats_service.auth.keys import write_private_file


@pytest.mark.parametrize("development", [False, True], ids=["production", "development"])
def test_generated_keys(development):
    keys = {generate_secret_key(development=development) for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert key.startswith(DEV_KEY_PREFIX) == development
        body = key.removeprefix(DEV_KEY_PREFIX) if development else key
        assert re.fullmatch(r"[A-Za-z0-9_\-]{64}", body)
        assert is_unsafe_secret_key(key) == development


@pytest.mark.parametrize(
    ("key", "unsafe"),
    [
        ("", True),
        ("short", True),
        ("x" * 31, True),
        ("x" * 32, False),
        ("dev-" + "x" * 60, True),
        (" " * 40, True),
        ("devx" + "y" * 60, False),
    ],
    ids=["empty", "short", "31-chars", "32-chars", "dev-prefix", "whitespace", "dev-lookalike"],
)
def test_is_unsafe_secret_key(key, unsafe):
    assert is_unsafe_secret_key(key) is unsafe


def test_key_file_round_trip_keeps_order(tmp_path):
    path = tmp_path / "keys"
    keys = [generate_secret_key(development=False) for _ in range(3)]
    write_key_file(path, keys)
    assert read_key_file(path) == keys


def test_key_file_round_trip_gives_a_working_signer(tmp_path):
    path = tmp_path / "keys"
    new, old = generate_secret_key(development=False), generate_secret_key(development=False)
    old_token = TokenSigner([old]).issue(TokenClaims("a", "tok_1", frozenset({"read"}), 1, None))
    write_key_file(path, [new, old])
    signer = TokenSigner(read_key_file(path))
    assert signer.verify(old_token, now=2).identity == "a"


def test_read_key_file_skips_comments_and_blank_lines(tmp_path):
    path = tmp_path / "keys"
    path.write_text("# header\n\n  first-key  \n\t\n# old:\nsecond-key\n", encoding="utf-8")
    assert read_key_file(path) == ["first-key", "second-key"]


def test_read_key_file_missing_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_key_file(tmp_path / "absent")


def test_key_file_is_private_and_parent_is_created(tmp_path):
    path = tmp_path / "etc" / "stats" / "keys"
    write_key_file(path, [generate_secret_key(development=False)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["keys"]


def test_private_file_mode_ignores_a_permissive_umask(tmp_path):
    path = tmp_path / "keys"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o644)
    previous = os.umask(0)
    try:
        write_private_file(path, b"new\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == b"new\n"


def test_failed_write_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "keys"
    target.mkdir()  # replacing a directory with a file fails
    with pytest.raises(OSError):  # noqa: PT011  # the exact subclass depends on the platform
        write_private_file(target, b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["keys"]
    assert list(target.iterdir()) == []


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        ([], ValueError),
        ([""], ValueError),
        (["two\nlines"], ValueError),
        ([" padded"], ValueError),
        (["#comment-like"], ValueError),
        ("a-bare-string", TypeError),
    ],
    ids=["none", "empty", "newline", "padded", "comment-like", "bare-string"],
)
def test_write_key_file_refuses_keys_that_would_not_read_back(tmp_path, keys, error):
    path = tmp_path / "keys"
    with pytest.raises(error):
        write_key_file(path, keys)
    assert not path.exists()
