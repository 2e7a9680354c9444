"""Tests for stats_service.auth.tokens: signing, verification, headers, durations."""

from __future__ import annotations

import hashlib
import re
from typing import get_args

import pytest
from itsdangerous import URLSafeSerializer

import stats_service.auth
from stats_service.auth import (
    TOKEN_SALT,
    AuthenticationFailed,
    AuthFailureReason,
    TokenClaims,
    TokenSigner,
    expand_scopes,
    new_token_id,
    parse_authorization,
    parse_duration,
)
from stats_service.errors import Unauthorized

KEY_NEW = "new-signing-key-0123456789abcdefghijklmnop"
KEY_OLD = "old-signing-key-0123456789abcdefghijklmnop"
KEY_OTHER = "someone-elses-key-0123456789abcdefghijklm"


def make_claims(**overrides: object) -> TokenClaims:
    values: dict[str, object] = {
        "identity": "alice",
        "token_id": "tok_0123456789abcdef",
        "scopes": frozenset({"write"}),
        "issued_at": 1_700_000_000,
        "expires_at": None,
    }
    values.update(overrides)
    return TokenClaims(**values)  # type: ignore[arg-type]


def assert_safe(exc: BaseException, *secrets: str) -> None:
    """The exception text, repr and chain reveal none of ``secrets``."""
    assert exc.__cause__ is None
    assert exc.__context__ is None
    for secret in secrets:
        assert secret not in str(exc)
        assert secret not in repr(exc)
        assert secret not in repr(getattr(exc, "details", None))


# --- public surface ---------------------------------------------------------------------


def test_public_surface_is_deliberate():
    assert sorted(stats_service.auth.__all__) == [
        "ACCESS_FILE_VERSION",
        "AccessFile",
        "AuthFailureReason",
        "AuthenticationFailed",
        "Authenticator",
        "DEV_KEY_PREFIX",
        "InvalidAccessFile",
        "KNOWN_SCOPES",
        "MIN_SECRET_KEY_LENGTH",
        "Principal",
        "SCOPE_ADMIN",
        "SCOPE_READ",
        "SCOPE_WRITE",
        "TOKEN_SALT",
        "TokenClaims",
        "TokenRecord",
        "TokenSigner",
        "expand_scopes",
        "generate_secret_key",
        "is_unsafe_secret_key",
        "new_token_id",
        "parse_authorization",
        "parse_duration",
        "read_key_file",
        "write_key_file",
    ]
    for name in stats_service.auth.__all__:
        assert hasattr(stats_service.auth, name), name


# --- issue / verify -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        make_claims(),
        make_claims(expires_at=1_700_003_600),
        make_claims(scopes=frozenset({"read", "write"})),
        make_claims(identity="bob@example.org", scopes=frozenset({"admin"})),
    ],
    ids=["no-expiry", "with-expiry", "two-scopes", "admin"],
)
def test_issue_verify_round_trip(claims):
    signer = TokenSigner([KEY_NEW])
    token = signer.issue(claims)
    assert re.fullmatch(r"[A-Za-z0-9_\-.]+", token)
    assert signer.verify(token, now=claims.issued_at) == claims


def test_token_carries_no_key():
    token = TokenSigner([KEY_NEW, KEY_OLD]).issue(make_claims())
    assert KEY_NEW not in token
    assert KEY_OLD not in token


def test_new_tokens_are_signed_with_the_first_key():
    token = TokenSigner([KEY_NEW, KEY_OLD]).issue(make_claims())
    assert TokenSigner([KEY_NEW]).verify(token, now=0) == make_claims()
    with pytest.raises(AuthenticationFailed) as excinfo:
        TokenSigner([KEY_OLD]).verify(token, now=0)
    assert excinfo.value.reason == "bad_signature"


def test_token_signed_with_old_key_verifies_while_the_key_is_listed():
    old_token = TokenSigner([KEY_OLD]).issue(make_claims())
    rotated = TokenSigner([KEY_NEW, KEY_OLD])
    assert rotated.verify(old_token, now=0) == make_claims()


def test_token_signed_with_old_key_fails_once_the_key_is_removed():
    old_token = TokenSigner([KEY_OLD]).issue(make_claims())
    with pytest.raises(AuthenticationFailed) as excinfo:
        TokenSigner([KEY_NEW]).verify(old_token, now=0)
    assert excinfo.value.reason == "bad_signature"
    assert_safe(excinfo.value, old_token, KEY_OLD, KEY_NEW)


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def _tampered_payload(token: str) -> str:
    # Keep the signature, swap in the payload of a token for someone else.
    forged = TokenSigner([KEY_OTHER]).issue(make_claims(identity="mallory"))
    return forged.rsplit(".", 1)[0] + "." + token.rsplit(".", 1)[1]


def _tampered_signature(token: str) -> str:
    payload, signature = token.rsplit(".", 1)
    return payload + "." + _flip(signature, len(signature) // 2)


def _flipped_payload_char(token: str) -> str:
    return _flip(token, 10)


def _truncated_signature(token: str) -> str:
    return token[:-6]


def _truncated_before_dot(token: str) -> str:
    return token.rsplit(".", 1)[0]


def _wrong_key(token: str) -> str:
    return TokenSigner([KEY_OTHER]).issue(make_claims())


def _overlong(token: str) -> str:
    return token + "A" * 5000


def _unsigned_layout(token: str) -> str:
    # Correctly signed by our key and salt, but not our payload layout.
    serializer = URLSafeSerializer(
        KEY_NEW, salt=TOKEN_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )
    return serializer.dumps({"user": "alice"})


def _wrong_types(token: str) -> str:
    serializer = URLSafeSerializer(
        KEY_NEW, salt=TOKEN_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )
    return serializer.dumps(
        {"sub": "alice", "jti": "tok_1", "scp": ["write"], "iat": True, "exp": None}
    )


def _other_salt(token: str) -> str:
    serializer = URLSafeSerializer(
        KEY_NEW, salt="another.purpose", signer_kwargs={"digest_method": hashlib.sha256}
    )
    return serializer.dumps({"sub": "alice", "jti": "tok_1", "scp": ["write"], "iat": 1})


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (_tampered_payload, "bad_signature"),
        (_flipped_payload_char, "bad_signature"),
        (_tampered_signature, "bad_signature"),
        (_truncated_signature, "bad_signature"),
        (_truncated_before_dot, "malformed"),
        (_wrong_key, "bad_signature"),
        (_other_salt, "bad_signature"),
        (_overlong, "malformed"),
        (_unsigned_layout, "malformed"),
        (_wrong_types, "malformed"),
        (lambda token: "", "malformed"),
        (lambda token: "not a token!", "malformed"),
        (lambda token: "garbage.garbage", "bad_signature"),
        (lambda token: "..", "malformed"),
        (lambda token: "tök.en", "malformed"),
    ],
    ids=[
        "tampered-payload",
        "flipped-payload-char",
        "tampered-signature",
        "truncated-signature",
        "truncated-before-dot",
        "wrong-key",
        "other-salt",
        "overlong",
        "foreign-layout",
        "wrong-claim-types",
        "empty",
        "garbage-with-spaces",
        "garbage-shaped-like-a-token",
        "only-dots",
        "non-ascii",
    ],
)
def test_verify_rejects_bad_tokens(mangle, reason):
    signer = TokenSigner([KEY_NEW])
    good = signer.issue(make_claims())
    bad = mangle(good)
    with pytest.raises(AuthenticationFailed) as excinfo:
        signer.verify(bad, now=0)
    assert excinfo.value.reason == reason
    assert isinstance(excinfo.value, Unauthorized)
    assert excinfo.value.status_code == 401
    assert excinfo.value.details == {"reason": reason}
    assert_safe(excinfo.value, *(s for s in (bad, good, KEY_NEW) if s))


@pytest.mark.parametrize(
    ("now", "expired"),
    [
        (1_700_000_000, False),
        (1_700_000_099.999, False),
        (1_700_000_100, True),
        (1_700_000_100.001, True),
        (1_800_000_000, True),
    ],
    ids=["at-issue", "just-before", "at-expiry", "just-after", "long-after"],
)
def test_expiry_uses_the_given_clock(now, expired):
    signer = TokenSigner([KEY_NEW])
    claims = make_claims(expires_at=1_700_000_100)
    token = signer.issue(claims)
    if expired:
        with pytest.raises(AuthenticationFailed) as excinfo:
            signer.verify(token, now=now)
        assert excinfo.value.reason == "expired"
        assert str(excinfo.value) == "token has expired"
        assert_safe(excinfo.value, token, KEY_NEW)
    else:
        assert signer.verify(token, now=now) == claims


def test_token_without_expiry_never_expires():
    signer = TokenSigner([KEY_NEW])
    token = signer.issue(make_claims())
    assert signer.verify(token, now=10**12).expires_at is None


@pytest.mark.parametrize(
    "claims",
    [
        make_claims(identity=""),
        make_claims(identity="al\nice"),
        make_claims(token_id=""),
        make_claims(scopes=frozenset()),
        make_claims(scopes=frozenset({"write", "delete"})),
        make_claims(expires_at=1_700_000_000),
        make_claims(expires_at=1_600_000_000),
    ],
    ids=[
        "empty-identity",
        "control-char-identity",
        "empty-token-id",
        "no-scopes",
        "unknown-scope",
        "expires-at-issue",
        "expires-before-issue",
    ],
)
def test_issue_refuses_inconsistent_claims(claims):
    with pytest.raises(ValueError):  # noqa: PT011  # the message varies per claim
        TokenSigner([KEY_NEW]).issue(claims)


@pytest.mark.parametrize(
    ("keys", "error"),
    [([], ValueError), ([""], ValueError), ([KEY_NEW, ""], ValueError), (KEY_NEW, TypeError)],
    ids=["no-keys", "empty-key", "one-empty-key", "bare-string"],
)
def test_signer_refuses_bad_key_lists(keys, error):
    with pytest.raises(error):
        TokenSigner(keys)


def test_repr_reveals_no_key():
    signer = TokenSigner([KEY_NEW, KEY_OLD])
    assert KEY_NEW not in repr(signer)
    assert KEY_OLD not in repr(signer)
    assert "keys=2" in repr(signer)


def test_claims_repr_holds_no_token():
    signer = TokenSigner([KEY_NEW])
    claims = make_claims()
    token = signer.issue(claims)
    assert token not in repr(signer.verify(token, now=0))
    assert KEY_NEW not in repr(claims)


def test_every_reason_has_a_short_message():
    reasons = get_args(AuthFailureReason)
    assert set(reasons) == {
        "missing",
        "malformed",
        "bad_signature",
        "expired",
        "unknown",
        "revoked",
    }
    for reason in reasons:
        exc = AuthenticationFailed(reason)
        assert exc.reason == reason
        assert 0 < len(exc.message) < 80
        assert exc.headers() == {"WWW-Authenticate": 'Token realm="stats-service"'}


# --- scopes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "expanded"),
    [
        ({"read"}, {"read"}),
        ({"write"}, {"write"}),
        ({"admin"}, {"admin", "read", "write"}),
        (set(), set()),
    ],
    ids=["read", "write", "admin", "none"],
)
def test_expand_scopes(scopes, expanded):
    assert expand_scopes(scopes) == frozenset(expanded)


# --- Authorization header -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Token abc.def", "abc.def"),
        ("Bearer abc.def", "abc.def"),
        ("bearer abc.def", "abc.def"),
        ("TOKEN abc.def", "abc.def"),
        ("  Token   abc.def  ", "abc.def"),
        ("Token\tabc.def", "abc.def"),
    ],
    ids=["token", "bearer", "lower-bearer", "upper-token", "extra-spaces", "tab"],
)
def test_parse_authorization_accepts(header, token):
    assert parse_authorization(header) == token


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("   ", "missing"),
        ("Basic YWxpY2U6cGFzcw==", "malformed"),
        ("Token", "malformed"),
        ("Token ", "malformed"),
        ("abc.def", "malformed"),
        ("Token abc def", "malformed"),
        ("Tokenabc.def", "malformed"),
    ],
    ids=[
        "absent",
        "empty",
        "blank",
        "basic",
        "scheme-only",
        "scheme-and-space",
        "no-scheme",
        "two-tokens",
        "no-separator",
    ],
)
def test_parse_authorization_rejects(header, reason):
    with pytest.raises(AuthenticationFailed) as excinfo:
        parse_authorization(header)
    assert excinfo.value.reason == reason
    if header and header.split():
        assert_safe(excinfo.value, header.split()[-1])


# --- token ids and durations ----------------------------------------------------------------


def test_new_token_id_shape_and_uniqueness():
    ids = {new_token_id() for _ in range(50)}
    assert len(ids) == 50
    for token_id in ids:
        assert re.fullmatch(r"tok_[0-9a-f]{16}", token_id)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("12h", 43_200),
        ("30d", 2_592_000),
        ("2w", 1_209_600),
        ("1s", 1),
        (" 7d ", 604_800),
    ],
    ids=["seconds", "minutes", "hours", "days", "weeks", "one-second", "padded"],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "90",
        "s",
        "0s",
        "-5m",
        "1.5h",
        "10y",
        "10 m",
        "1M",
        "5mm",
        "1h30m",
        "\u0661\u0665m",
        "9999999999s",
    ],
    ids=[
        "empty",
        "no-unit",
        "no-number",
        "zero",
        "negative",
        "fraction",
        "unknown-unit",
        "inner-space",
        "upper-case-unit",
        "double-unit",
        "compound",
        "non-ascii-digits",
        "absurdly-long",
    ],
)
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_verified_tokens_are_remembered_but_expiry_still_applies() -> None:
    signer = TokenSigner(["k" * 40])
    claims = TokenClaims("app", "tok_1", frozenset({"write"}), 100, 200)
    token = signer.issue(claims)
    assert signer.verify(token, now=150) == claims
    assert signer.verify(token, now=199) == claims  # answered from the cache
    with pytest.raises(AuthenticationFailed) as info:
        signer.verify(token, now=200)
    assert info.value.reason == "expired"


def test_a_tampered_token_never_matches_a_remembered_one() -> None:
    signer = TokenSigner(["k" * 40])
    token = signer.issue(TokenClaims("app", "tok_1", frozenset({"write"}), 100, None))
    signer.verify(token, now=150)
    body, signature = token.rsplit(".", 1)
    forged = body + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(AuthenticationFailed):
        signer.verify(forged, now=150)
