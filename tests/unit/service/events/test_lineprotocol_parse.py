"""The line-protocol parser: InfluxDB's grammar, values, errors, and the round trip."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lineprotocol_corpus import CORPUS, INFLUXD_16_DIFFERENCES

from stats_service.events.lineprotocol_parse import (
    LineProtocolError,
    ParsedPoint,
    TooManyLines,
    UnsignedInt,
    parse_line,
    parse_lines,
    split_lines,
)
from stats_service.events.lineprotocol_scan import scan_exact
from stats_service.events.model import Event
from stats_service.storage.influx.lineprotocol import encode_event

BOUNDED = settings(max_examples=300, deadline=None)


@pytest.mark.parametrize(
    ("line", "accepted"), [(c[1], c[2]) for c in CORPUS], ids=[c[0] for c in CORPUS]
)
def test_corpus_verdicts(line, accepted):
    if accepted:
        assert isinstance(parse_line(line), ParsedPoint)
    else:
        with pytest.raises(LineProtocolError):
            parse_line(line)


@pytest.mark.parametrize(
    ("line", "accepted"),
    [(c[1], c[2]) for c in INFLUXD_16_DIFFERENCES],
    ids=[c[0] for c in INFLUXD_16_DIFFERENCES],
)
def test_documented_differences_from_influxd_16(line, accepted):
    if accepted:
        parse_line(line)
    else:
        with pytest.raises(LineProtocolError):
            parse_line(line)


def test_values_are_typed():
    point = parse_line(b'cpu,host=a,dc=eu f=1.5,i=-3i,u=7u,b=T,s="x" 1700000000000000000')
    assert point.measurement == "cpu"
    assert point.tags == {"dc": "eu", "host": "a"}
    assert list(point.tags) == ["dc", "host"]
    assert point.fields == {"f": 1.5, "i": -3, "u": 7, "b": True, "s": "x"}
    assert type(point.fields["i"]) is int
    assert type(point.fields["u"]) is UnsignedInt
    assert type(point.fields["f"]) is float
    assert point.time_ns == 1_700_000_000_000_000_000


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b"t", True),
        (b"T", True),
        (b"true", True),
        (b"True", True),
        (b"TRUE", True),
        (b"f", False),
        (b"F", False),
        (b"false", False),
        (b"False", False),
        (b"FALSE", False),
    ],
)
def test_every_boolean_form(text, value):
    assert parse_line(b"m v=" + text).fields["v"] is value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'm\\ x\\,y\\=z\\"q v=1', 'm x,y=z"q'),
        (b"m\\a v=1", "m\\a"),
    ],
    ids=["escapes", "other-backslash-kept"],
)
def test_measurement_unescaping(raw, expected):
    assert parse_line(raw).measurement == expected


def test_tag_and_field_key_unescaping():
    point = parse_line(b'm,k\\ 1\\,\\==v\\ 1\\,\\=\\" f\\ 1\\,\\=\\"=1')
    assert point.tags == {"k 1,=": 'v 1,=\\"'}
    assert point.fields == {'f 1,="': 1.0}


def test_string_field_unescaping_keeps_other_characters():
    point = parse_line(b'm s="a\\\\b \\"q\\" \\n, x=y"')
    assert point.fields["s"] == 'a\\b "q" \\n, x=y'


def test_duplicate_field_keeps_the_last_value():
    assert parse_line(b"m a=1,a=2i").fields == {"a": 2}


@pytest.mark.parametrize(
    ("precision", "factor"),
    [
        ("n", 1),
        ("ns", 1),
        ("u", 1000),
        ("us", 1000),
        ("ms", 10**6),
        ("s", 10**9),
        ("m", 60 * 10**9),
        ("h", 3600 * 10**9),
    ],
)
def test_precisions(precision, factor):
    assert parse_line(b"m v=1 17", precision=precision).time_ns == 17 * factor


def test_precision_out_of_range():
    with pytest.raises(LineProtocolError, match="time outside range"):
        parse_line(b"m v=1 9223372036854775", precision="ms")


def test_unknown_precision_is_a_programming_error():
    with pytest.raises(ValueError, match="precision"):
        parse_line(b"m v=1", precision="d")


def test_unsigned_range():
    assert parse_line(b"m v=18446744073709551615u").fields["v"] == 2**64 - 1
    with pytest.raises(LineProtocolError, match="unsigned"):
        parse_line(b"m v=18446744073709551616u")
    with pytest.raises(LineProtocolError):
        parse_line(b"m v=-1u")


def test_reasons_use_influxdb_wording():
    with pytest.raises(LineProtocolError) as caught:
        parse_line(b"m v=9223372036854775808i")
    assert caught.value.reason == (
        "unable to parse integer 9223372036854775808: strconv.ParseInt: parsing "
        '"9223372036854775808": value out of range'
    )


def test_split_lines_skips_comments_and_blanks_and_keeps_quoted_newlines():
    body = b'# comment\n\n   \n  # indented comment\nm s="a\nb" 1\nm v=2\n'
    assert list(split_lines(body)) == [(5, b'm s="a\nb" 1'), (6, b"m v=2")]


def test_parse_lines_keeps_good_lines_and_names_bad_ones():
    result = parse_lines(b"m v=1\nbad\nm v=2 5\nm v=NaN\n", precision="s")
    assert [(p.line_number, p.fields["v"], p.time_ns) for p in result.points] == [
        (1, 1.0, None),
        (3, 2.0, 5 * 10**9),
    ]
    assert [(e.line_number, e.line, e.reason) for e in result.errors] == [
        (2, "bad", "missing fields"),
        (4, "m v=NaN", "invalid number"),
    ]
    assert result.errors[0].describe() == "unable to parse 'bad': missing fields"


def test_line_length_limit():
    result = parse_lines(b'm v=1\nm s="' + b"x" * 100 + b'"\n', max_line_bytes=50)
    assert len(result.points) == 1
    assert result.errors[0].line_number == 2
    assert "at most 50" in result.errors[0].reason


def test_long_bad_lines_are_shortened_in_errors():
    result = parse_lines(b"m" * 1000)
    assert result.errors[0].line.endswith("...")
    assert len(result.errors[0].line) < 300


def test_invalid_utf8_is_refused():
    with pytest.raises(LineProtocolError, match="UTF-8"):
        parse_line(b'm s="\xc3\x28"')


@pytest.mark.parametrize(
    "line",
    [b'a ,a="=",a="""', b'm ,f="x"', b'm f=1,,g="="'],
    ids=["leading-comma-quoted", "leading-comma", "empty-field-then-quote"],
)
def test_misplaced_commas_and_quotes_are_refused_not_crashed(line):
    # Found by the agreement property: the scan let a value through that no
    # type reads, and the float conversion's own ValueError escaped.
    result = parse_lines(line)
    assert result.points == []
    assert len(result.errors) == 1


# --- properties ----------------------------------------------------------------


@BOUNDED
@given(st.binary(max_size=200))
def test_fuzz_parse_line_raises_only_its_own_error(data):
    try:
        point = parse_line(data)
    except LineProtocolError:
        return
    assert point.fields
    for value in point.fields.values():
        assert not isinstance(value, float) or math.isfinite(value)


LINE_BYTES = st.sampled_from(
    [
        b"m",
        b",",
        b"=",
        b" ",
        b"\\",
        b'"',
        b"1",
        b"i",
        b"u",
        b"t",
        b"-",
        b".",
        b"e",
        b"\n",
        b"#",
        b"x",
        b"N",
        b"\t",
        b"\xff",
    ]
)


@BOUNDED
@given(st.lists(LINE_BYTES, max_size=60).map(b"".join))
def test_fuzz_grammar_shaped_bodies_never_raise(body):
    result = parse_lines(body, precision="ms")
    numbers = [p.line_number for p in result.points] + [e.line_number for e in result.errors]
    assert len(numbers) == len(set(numbers))


# Names the encoder can write exactly: no control characters, no trailing
# backslash, no backslash before a character the parser would unescape.
name_chars = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="\\")
names = st.text(name_chars, min_size=1, max_size=12)
measurements = names.filter(lambda n: not n.startswith("#"))
keys = names.filter(lambda n: n not in {"time", "event_id"})
field_values = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)


@BOUNDED
@given(
    measurement=measurements,
    tags=st.dictionaries(keys, names, max_size=4),
    fields=st.dictionaries(keys, field_values, min_size=1, max_size=4),
    time_ns=st.integers(min_value=-(2**63) + 2, max_value=2**63 - 2),
)
def test_round_trip_with_the_encoder(measurement, tags, fields, time_ns):
    event = Event("e-1", measurement, time_ns, tags, fields)
    point = parse_line(encode_event(event).encode("utf-8"))
    assert point.measurement == measurement
    assert point.tags == dict(sorted(tags.items()))
    assert point.fields == {**fields, "event_id": "e-1"}
    for key, value in fields.items():
        assert type(point.fields[key]) is type(value)
    assert point.time_ns == time_ns


PLAIN_BYTES = st.sampled_from(
    [
        b"m",
        b"k",
        b",",
        b"=",
        b" ",
        b'"',
        b"1",
        b"0",
        b"i",
        b"u",
        b"t",
        b"T",
        b"f",
        b"-",
        b".",
        b"e",
        b"E",
        b"+",
        b"x",
        b"N",
        b"\t",
        b"9" * 19,
        b"\xc3\xa9",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(PLAIN_BYTES, min_size=3, max_size=40).map(b"".join))
def test_fast_path_agrees_with_the_scanner(line):
    """Plain lines take a fast path; it must give exactly what the exact scanner gives."""
    _assert_paths_agree(line)


BLANKS = b" \t\x00"
"""What influxd skips at the start of a line."""


def _assert_paths_agree(line):
    try:
        # The scanner takes a line with its leading blanks gone, as influxd hands it over.
        exact = scan_exact(line.lstrip(BLANKS), 1, 0)
    except LineProtocolError:
        exact = None
    try:
        fast = parse_line(line)
    except LineProtocolError:
        fast = None
    if fast is None or exact is None:
        assert fast == exact
        return
    # ``series`` is only known on the fast path (a cache key); everything else must agree.
    assert fast._replace(series=None) == exact
    assert [type(v) for v in fast.fields.values()] == [type(v) for v in exact.fields.values()]
    if fast.series is not None:
        FAST_PATH_HITS.append(line)
        assert line.lstrip(BLANKS).decode().startswith(fast.series + " ")


FAST_PATH_HITS: list[bytes] = []

plain_names = st.one_of(
    st.text(st.sampled_from("abcé"), min_size=1, max_size=4),
    st.text(st.sampled_from('abcxé"#=,'), min_size=1, max_size=4),
)
plain_values = st.one_of(
    st.sampled_from(
        [
            "1",
            "-1",
            "1.5",
            ".5",
            "5.",
            "1e5",
            "1e400",
            "1.e-3",
            "-",
            ".",
            "NaN",
            "t",
            "TRUE",
            "True",
            "tRUE",
            "1i",
            "-0i",
            "9223372036854775808i",
            "1u",
            "-1u",
            "18446744073709551616u",
            "1.5i",
            "1e5i",
            "0x1",
            "+1",
        ]
    ),
    st.text(st.sampled_from('ab ,="é'), max_size=5).map(lambda t: f'"{t}"'),
)


@settings(max_examples=400, deadline=None)
@given(
    st.tuples(
        plain_names,
        st.lists(st.tuples(plain_names, plain_names), max_size=3),
        st.lists(st.tuples(plain_names, plain_values), min_size=1, max_size=3),
        st.sampled_from(["", " 5", " -5", " 9223372036854775807", " 1a", "  7", " 5 "]),
    )
)
def test_fast_path_agrees_with_the_scanner_on_line_shaped_input(parts):
    measurement, tags, fields, stamp = parts
    text = measurement + "".join(f",{k}={v}" for k, v in tags)
    text += " " + ",".join(f"{k}={v}" for k, v in fields) + stamp
    _assert_paths_agree(text.encode())


def test_the_agreement_tests_reach_the_fast_path():
    FAST_PATH_HITS.clear()
    test_fast_path_agrees_with_the_scanner_on_line_shaped_input()
    assert len(FAST_PATH_HITS) > 20


def test_public_surface_is_deliberate():
    from stats_service.events import (  # noqa: PLC0415
        lineprotocol_events,
        lineprotocol_parse,
        lineprotocol_scan,
    )

    assert sorted(lineprotocol_parse.__all__) == sorted(
        [
            "MAX_KEY_BYTES",
            "PRECISION_NS",
            "LineError",
            "LineProtocolError",
            "ParseResult",
            "ParsedPoint",
            "TooManyLines",
            "UnsignedInt",
            "parse_line",
            "parse_lines",
            "split_lines",
        ]
    )
    assert lineprotocol_events.__all__ == ["event_from_point", "plain_series", "valid_key"]
    assert sorted(lineprotocol_scan.__all__) == sorted(
        [
            "BOOLEANS",
            "MAX_KEY_BYTES",
            "MAX_TIME_NS",
            "MIN_TIME_NS",
            "FieldValue",
            "LineProtocolError",
            "ParsedPoint",
            "UnsignedInt",
            "scan_exact",
        ]
    )


def test_max_lines_stops_at_the_first_line_over():
    body = b"# c\nm v=1\n\nbad\nm v=2\n# trailing comment\n\n"
    assert len(parse_lines(body, max_lines=3).points) == 2
    with pytest.raises(TooManyLines):
        parse_lines(body + b"m v=3", max_lines=3)
