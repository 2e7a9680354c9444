"""Tests for stats_service.auth.access: the access file and request authentication."""

from __future__ import annotations

import json
import logging
import stat
import threading

import pytest

from stats_service.auth import (
    AccessFile,
    AuthenticationFailed,
    Authenticator,
    InvalidAccessFile,
    Principal,
    TokenClaims,
    TokenRecord,
    TokenSigner,
)
from stats_service.errors import Forbidden

KEY = "access-test-signing-key-0123456789abcdefgh"
NOW = 1_700_000_000
SIGNER = TokenSigner([KEY])


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def access_path(tmp_path):
    return tmp_path / "config" / "access.json"


@pytest.fixture
def make_access(access_path, clock):
    """Factory: another AccessFile on the same path (the service's, the CLI's...)."""

    def make(**kwargs):
        kwargs.setdefault("clock", clock)
        return AccessFile(access_path, **kwargs)

    return make


@pytest.fixture
def service(make_access, clock):
    """The service's view: an authenticator over its own AccessFile."""
    return Authenticator(SIGNER, make_access(), clock=clock)


def issue_for(record: TokenRecord) -> str:
    return SIGNER.issue(record.to_claims())


def header(token: str) -> str:
    return f"Token {token}"


# --- file format and writes -------------------------------------------------------------


def test_add_writes_the_documented_layout(make_access, access_path):
    record = make_access().add("alice", ["write"], expires_at=None, now=NOW)
    assert json.loads(access_path.read_text(encoding="utf-8")) == {
        "version": 1,
        "tokens": [
            {
                "token_id": record.token_id,
                "identity": "alice",
                "scopes": ["write"],
                "created_at": NOW,
                "expires_at": None,
                "revoked_at": None,
            }
        ],
    }


def test_add_creates_the_parent_directory_and_a_private_file(make_access, access_path):
    assert not access_path.parent.exists()
    make_access().add("alice", ["write"], expires_at=None, now=NOW)
    assert stat.S_IMODE(access_path.stat().st_mode) == 0o600
    assert [p.name for p in access_path.parent.iterdir()] == ["access.json"]


def test_access_file_never_contains_a_token_or_key(make_access, access_path):
    access = make_access()
    tokens = []
    for identity, scopes in [("alice", ["write"]), ("bob", ["read"]), ("ops", ["admin"])]:
        record = access.add(identity, scopes, expires_at=NOW + 3600, now=NOW)
        tokens.append(issue_for(record))
    access.revoke(access.records()[0].token_id, now=NOW + 1)
    text = access_path.read_text(encoding="utf-8")
    for token in tokens:
        assert token not in text
        assert token.rsplit(".", 1)[1] not in text  # nor its signature
    assert KEY not in text


def test_records_keep_file_order_and_survive_a_new_instance(make_access):
    writer = make_access()
    added = [writer.add(name, ["read"], expires_at=None, now=NOW) for name in "abc"]
    assert make_access().records() == added


def test_missing_file_means_no_tokens(make_access):
    access = make_access()
    assert access.records() == []
    assert access.lookup("tok_0123456789abcdef") is None


@pytest.mark.parametrize(
    ("identity", "scopes", "expires_at", "error"),
    [
        ("", ["write"], None, ValueError),
        (" alice", ["write"], None, ValueError),
        ("al\nice", ["write"], None, ValueError),
        ("a" * 201, ["write"], None, ValueError),
        ("alice", [], None, ValueError),
        ("alice", ["write", "delete"], None, ValueError),
        ("alice", "write", None, TypeError),
        ("alice", ["write"], NOW, ValueError),
        ("alice", ["write"], NOW - 1, ValueError),
    ],
    ids=[
        "empty-identity",
        "padded-identity",
        "control-char",
        "long-identity",
        "no-scopes",
        "unknown-scope",
        "scopes-as-string",
        "expires-now",
        "expired-already",
    ],
)
def test_add_validates(make_access, identity, scopes, expires_at, error):
    access = make_access()
    with pytest.raises(error):
        access.add(identity, scopes, expires_at=expires_at, now=NOW)
    assert not access.path.exists()


def test_revoke_unknown_token_id_raises_key_error(make_access):
    access = make_access()
    access.add("alice", ["write"], expires_at=None, now=NOW)
    with pytest.raises(KeyError):
        access.revoke("tok_ffffffffffffffff", now=NOW)


def test_revoke_twice_keeps_the_first_time(make_access):
    access = make_access()
    record = access.add("alice", ["write"], expires_at=None, now=NOW)
    first = access.revoke(record.token_id, now=NOW + 10)
    second = access.revoke(record.token_id, now=NOW + 20)
    assert first.revoked_at == second.revoked_at == NOW + 10
    assert make_access().lookup(record.token_id) == first


def test_writes_see_changes_made_by_another_instance(make_access):
    first, second = make_access(), make_access()
    a = first.add("alice", ["write"], expires_at=None, now=NOW)
    b = second.add("bob", ["read"], expires_at=None, now=NOW)  # must not drop alice
    assert [r.token_id for r in make_access().records()] == [a.token_id, b.token_id]


def test_record_to_claims(make_access):
    record = make_access().add("alice", ["read", "write"], expires_at=NOW + 60, now=NOW)
    assert record.to_claims() == TokenClaims(
        identity="alice",
        token_id=record.token_id,
        scopes=frozenset({"read", "write"}),
        issued_at=NOW,
        expires_at=NOW + 60,
    )


def test_revoked_record_gives_no_claims(make_access):
    access = make_access()
    record = access.add("alice", ["write"], expires_at=None, now=NOW)
    with pytest.raises(ValueError, match="revoked"):
        access.revoke(record.token_id, now=NOW).to_claims()


# --- authentication -----------------------------------------------------------------------


def test_authenticate_valid_token(service, make_access):
    record = make_access().add("alice", ["write"], expires_at=None, now=NOW)
    principal = service.authenticate(header(issue_for(record)))
    assert principal == Principal("alice", record.token_id, frozenset({"write"}))


def test_revocation_takes_effect_after_the_reload_interval(service, make_access, clock):
    cli = make_access()
    record = cli.add("alice", ["write"], expires_at=None, now=NOW)
    token = issue_for(record)
    assert service.authenticate(header(token)).identity == "alice"

    cli.revoke(record.token_id, now=NOW)
    clock.advance(0.5)  # within the interval the service has not looked at the file again
    assert service.authenticate(header(token)).identity == "alice"

    clock.advance(0.5)
    with pytest.raises(AuthenticationFailed) as excinfo:
        service.authenticate(header(token))
    assert excinfo.value.reason == "revoked"
    assert str(excinfo.value) == "token has been revoked"


def test_new_token_becomes_valid_after_the_reload_interval(service, make_access, clock):
    cli = make_access()
    cli.add("alice", ["write"], expires_at=None, now=NOW)
    service.authenticate(header(issue_for(cli.records()[0])))  # loads the file

    bob = cli.add("bob", ["read"], expires_at=None, now=NOW)
    with pytest.raises(AuthenticationFailed) as excinfo:
        service.authenticate(header(issue_for(bob)))
    assert excinfo.value.reason == "unknown"
    clock.advance(1.0)
    assert service.authenticate(header(issue_for(bob))).identity == "bob"


def test_removed_file_revokes_everything(service, make_access, clock, access_path):
    record = make_access().add("alice", ["write"], expires_at=None, now=NOW)
    token = issue_for(record)
    service.authenticate(header(token))
    access_path.unlink()
    clock.advance(1.0)
    with pytest.raises(AuthenticationFailed) as excinfo:
        service.authenticate(header(token))
    assert excinfo.value.reason == "unknown"


def test_unknown_token_id(service, make_access):
    make_access().add("alice", ["write"], expires_at=None, now=NOW)
    claims = TokenClaims("alice", "tok_0000000000000000", frozenset({"write"}), NOW, None)
    with pytest.raises(AuthenticationFailed) as excinfo:
        service.authenticate(header(SIGNER.issue(claims)))
    assert excinfo.value.reason == "unknown"


def test_token_id_listed_for_another_identity_is_unknown(service, make_access):
    record = make_access().add("alice", ["write"], expires_at=None, now=NOW)
    claims = TokenClaims("mallory", record.token_id, frozenset({"write"}), NOW, None)
    with pytest.raises(AuthenticationFailed) as excinfo:
        service.authenticate(header(SIGNER.issue(claims)))
    assert excinfo.value.reason == "unknown"


@pytest.mark.parametrize(
    ("offset", "expired"),
    [(-1, False), (0, True), (1, True)],
    ids=["just-before", "at", "after"],
)
def test_access_file_expiry_applies_even_if_the_token_has_none(
    service, make_access, clock, offset, expired
):
    record = make_access().add("alice", ["write"], expires_at=NOW + 100, now=NOW)
    token = SIGNER.issue(
        TokenClaims("alice", record.token_id, frozenset({"write"}), NOW, expires_at=None)
    )
    clock.advance(100 + offset)
    if expired:
        with pytest.raises(AuthenticationFailed) as excinfo:
            service.authenticate(header(token))
        assert excinfo.value.reason == "expired"
    else:
        assert service.authenticate(header(token)).identity == "alice"


def test_token_expiry_uses_the_authenticator_clock(service, make_access, clock):
    record = make_access().add("alice", ["write"], expires_at=NOW + 60, now=NOW)
    token = issue_for(record)
    clock.advance(59)
    assert service.authenticate(header(token)).identity == "alice"
    clock.advance(1)
    with pytest.raises(AuthenticationFailed) as excinfo:
        service.authenticate(header(token))
    assert excinfo.value.reason == "expired"


@pytest.mark.parametrize(
    ("token_scopes", "record_scopes", "effective"),
    [
        ({"write"}, {"write"}, {"write"}),
        ({"read", "write"}, {"write"}, {"write"}),
        ({"write"}, {"read", "write"}, {"write"}),
        ({"write"}, {"read"}, set()),
        ({"admin"}, {"read"}, {"read"}),
        ({"read"}, {"admin"}, {"read"}),
        ({"admin"}, {"admin"}, {"admin", "read", "write"}),
    ],
    ids=[
        "same",
        "token-wider",
        "file-wider",
        "disjoint",
        "admin-token-narrowed-by-file",
        "admin-file-narrowed-by-token",
        "admin-both",
    ],
)
def test_effective_scopes_are_the_intersection(
    service, make_access, token_scopes, record_scopes, effective
):
    record = make_access().add("alice", record_scopes, expires_at=None, now=NOW)
    token = SIGNER.issue(
        TokenClaims("alice", record.token_id, frozenset(token_scopes), NOW, expires_at=None)
    )
    principal = service.authenticate(header(token))
    assert principal.scopes == frozenset(effective)
    for scope in ("read", "write", "admin"):
        if scope in effective:
            Authenticator.require(principal, scope)
        else:
            with pytest.raises(Forbidden, match=scope):
                Authenticator.require(principal, scope)


def test_require_refuses_unknown_scope_names():
    principal = Principal("alice", "tok_1", frozenset({"read"}))
    with pytest.raises(ValueError, match="unknown scope"):
        Authenticator.require(principal, "reed")


def _no_header(token: str) -> str | None:
    return None


def _basic(token: str) -> str | None:
    return "Basic YWxpY2U6c2VjcmV0"


def _other_key(token: str) -> str | None:
    return header(
        TokenSigner(["x" * 40]).issue(TokenClaims("a", "t", frozenset({"read"}), 1, None))
    )


def _tampered(token: str) -> str | None:
    return header(token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"))


@pytest.mark.parametrize(
    ("make_header", "reason"),
    [
        (_no_header, "missing"),
        (_basic, "malformed"),
        (lambda token: f"Token {token} extra", "malformed"),
        (_other_key, "bad_signature"),
        (_tampered, "bad_signature"),
    ],
    ids=["missing", "basic", "extra-word", "other-key", "tampered"],
)
def test_authenticate_failures_are_safe(service, make_access, make_header, reason):
    record = make_access().add("alice", ["write"], expires_at=None, now=NOW)
    token = issue_for(record)
    sent = make_header(token)
    with pytest.raises(AuthenticationFailed) as excinfo:
        service.authenticate(sent)
    exc = excinfo.value
    assert exc.reason == reason
    assert exc.status_code == 401
    assert exc.__context__ is None
    for secret in filter(None, [token, KEY, sent and sent.split()[-1]]):
        assert secret not in str(exc)
        assert secret not in repr(exc)
        assert secret not in repr(exc.details)


def test_reprs_hold_no_token_or_key(make_access, service):
    access = make_access()
    record = access.add("alice", ["write"], expires_at=None, now=NOW)
    token = issue_for(record)
    principal = service.authenticate(header(token))
    for obj in (record, principal, access, SIGNER, service):
        assert token not in repr(obj)
        assert KEY not in repr(obj)


# --- reloading and corrupt files ----------------------------------------------------------


def entry(**overrides: object) -> dict[str, object]:
    """A valid access-file entry with ``overrides`` applied."""
    values: dict[str, object] = {
        "token_id": "tok_1",
        "identity": "a",
        "scopes": ["read"],
        "created_at": 1,
        "expires_at": None,
        "revoked_at": None,
    }
    values.update(overrides)
    return values


def document(*entries: object, version: object = 1) -> bytes:
    return json.dumps({"version": version, "tokens": list(entries)}).encode()


CORRUPT_CONTENTS = [
    b"{not json SECRET-LOOKING-CONTENT",
    b"",
    b"\xff\xfe\x00garbage",
    b"[]",
    document(version=2),
    document(version=True),
    b'{"version": 1, "tokens": {}}',
    document("tok_1"),
    document({"token_id": "tok_1", "identity": "a", "scopes": ["read"]}),
    document(entry(scopes="read")),
    document(entry(created_at=True)),
    document(entry(expires_at="soon")),
    document(entry(token_id="")),
    document(entry(identity="a"), entry(identity="b")),
]
CORRUPT_IDS = [
    "bad-json",
    "empty",
    "not-utf8",
    "top-level-list",
    "future-version",
    "bool-version",
    "tokens-not-list",
    "entry-not-object",
    "missing-fields",
    "scopes-not-list",
    "bool-time",
    "string-time",
    "empty-token-id",
    "duplicate-token-id",
]


@pytest.mark.parametrize("content", CORRUPT_CONTENTS, ids=CORRUPT_IDS)
def test_corrupt_file_keeps_the_last_good_content(make_access, access_path, clock, caplog, content):
    writer = make_access()
    record = writer.add("alice", ["write"], expires_at=None, now=NOW)
    reader = make_access()
    assert reader.lookup(record.token_id) == record

    access_path.write_bytes(content)
    clock.advance(1.0)
    with caplog.at_level(logging.WARNING, logger="stats_service.auth.access"):
        assert reader.lookup(record.token_id) == record
        for _ in range(3):
            clock.advance(1.0)
            assert reader.records() == [record]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "keeping the last good content" in warnings[0].getMessage()
    assert "SECRET-LOOKING-CONTENT" not in caplog.text


@pytest.mark.parametrize("content", CORRUPT_CONTENTS, ids=CORRUPT_IDS)
def test_corrupt_file_at_startup_means_no_tokens(make_access, access_path, content):
    access_path.parent.mkdir(parents=True)
    access_path.write_bytes(content)
    assert make_access().records() == []


def test_fixed_file_is_picked_up_again(make_access, access_path, clock, caplog):
    writer = make_access()
    alice = writer.add("alice", ["write"], expires_at=None, now=NOW)
    good = access_path.read_bytes()
    reader = make_access()
    assert reader.lookup(alice.token_id) == alice

    access_path.write_bytes(b"{oops")
    clock.advance(1.0)
    with caplog.at_level(logging.WARNING, logger="stats_service.auth.access"):
        assert reader.lookup(alice.token_id) == alice
    access_path.write_bytes(good.replace(b'"write"', b'"read"'))
    clock.advance(1.0)
    assert reader.lookup(alice.token_id).scopes == frozenset({"read"})


def test_writes_refuse_to_overwrite_a_corrupt_file(make_access, access_path):
    writer = make_access()
    record = writer.add("alice", ["write"], expires_at=None, now=NOW)
    access_path.write_bytes(b"{oops")
    with pytest.raises(InvalidAccessFile, match="invalid"):
        writer.add("bob", ["read"], expires_at=None, now=NOW)
    with pytest.raises(InvalidAccessFile):
        writer.revoke(record.token_id, now=NOW)
    assert access_path.read_bytes() == b"{oops"


def test_file_is_checked_at_most_once_per_interval(access_path, clock, monkeypatch):
    access = AccessFile(access_path, clock=clock, reload_interval_seconds=5.0)
    calls = []
    real_stat = type(access_path).stat

    def counting_stat(self, *args, **kwargs):
        if self == access_path:
            calls.append(clock.now)
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(type(access_path), "stat", counting_stat)
    for _ in range(20):
        access.lookup("tok_1")
        clock.advance(0.5)
    # 20 lookups over 10 seconds of clock with a 5 second interval: looks at 0 and 5.
    assert calls == [NOW, NOW + 5.0]


def test_negative_reload_interval_is_refused(access_path):
    with pytest.raises(ValueError, match="reload_interval_seconds"):
        AccessFile(access_path, reload_interval_seconds=-1)


def test_concurrent_lookups_during_writes(make_access, clock):
    reader = make_access(reload_interval_seconds=0.0)
    writer = make_access()
    errors: list[BaseException] = []
    seen: list[TokenRecord | None] = []
    first = writer.add("first", ["read"], expires_at=None, now=NOW)

    def read() -> None:
        try:
            seen.extend(reader.lookup(first.token_id) for _ in range(200))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    added = [writer.add(f"user{i}", ["write"], expires_at=None, now=NOW) for i in range(10)]
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(seen) == 800
    assert all(record == first for record in seen)
    assert reader.records() == [first, *added]
