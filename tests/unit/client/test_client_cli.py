"""The stats-client command line: arguments, environment defaults, usage errors."""

from __future__ import annotations

import pytest

from stats_client.cli import DEFAULT_URL, build_parser, main, parse_pairs


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        (["n=3"], {"n": 3}),
        (["ok=true"], {"ok": True}),
        (["ratio=0.5"], {"ratio": 0.5}),
        (["who=oisin"], {"who": "oisin"}),
        (['code="007"'], {"code": "007"}),
        (['obj={"a": [1]}'], {"obj": {"a": [1]}}),
        (["empty="], {"empty": ""}),
        (["expr=a=b"], {"expr": "a=b"}),
        (["nothing=null"], {"nothing": None}),
    ],
    ids=["int", "bool", "float", "text", "quoted", "object", "empty", "equals", "null"],
)
def test_parse_pairs(pairs, expected):
    assert parse_pairs(pairs) == expected


def test_raw_pairs_stay_strings():
    assert parse_pairs(["ok=true", "n=3", "env=prod"], raw=True) == {
        "ok": "true",
        "n": "3",
        "env": "prod",
    }


@pytest.mark.parametrize("pair", ["novalue", "=value"], ids=["no-equals", "no-key"])
def test_parse_pairs_refuses_malformed_pairs(pair):
    with pytest.raises(ValueError, match="key=value"):
        parse_pairs([pair])


def test_url_and_token_come_from_the_environment():
    args = build_parser({"STATS_URL": "http://env:1", "STATS_TOKEN": "env-token"}).parse_args(
        ["ping"]
    )
    assert (args.url, args.token) == ("http://env:1", "env-token")


def test_options_win_over_the_environment():
    args = build_parser({"STATS_URL": "http://env:1"}).parse_args(
        ["--url", "http://opt:2", "--token", "t", "get", "entry_1"]
    )
    assert (args.url, args.token, args.event_id) == ("http://opt:2", "t", "entry_1")


def test_defaults_without_environment():
    args = build_parser({}).parse_args(["log", "--event", "e", "a=1"])
    assert (args.url, args.token, args.uid, args.data) == (DEFAULT_URL, "", "", ["a=1"])


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["log", "--uid", "u"],
        ["log", "--event", "e", "broken"],
        ["log", "--event", "e", "bad-key=1"],
        ["--url", "ftp://x", "ping"],
    ],
    ids=["no-command", "no-event", "bad-pair", "invalid-event", "bad-url"],
)
def test_usage_errors_exit_with_2(argv, capsys):
    with pytest.raises(SystemExit) as raised:
        main(argv, environ={})
    assert raised.value.code == 2
    assert "usage" in capsys.readouterr().err
