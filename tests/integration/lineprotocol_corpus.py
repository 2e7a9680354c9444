"""A corpus of line-protocol lines with the verdict InfluxDB's grammar gives each.

Shared by the parser's unit tests and the comparison against a real influxd.
Each entry: ``(id, line, accepted)``. Every line uses its own measurement so
field types never conflict between lines written to one database.
"""

from __future__ import annotations

__all__ = ["CORPUS", "INFLUXD_16_DIFFERENCES", "MODEL_REFUSED", "STORAGE_REFUSED"]

CORPUS: list[tuple[str, bytes, bool]] = [
    # valid
    ("float", b"m01 value=1.5", True),
    ("float-int-form", b"m02 value=1", True),
    ("float-exp", b"m03 value=1.5e3,b=-2E-2,c=1e+2", True),
    ("float-dots", b"m04 value=5.,b=-.5,c=.5", True),
    ("integer", b"m05 value=-42i", True),
    ("integer-max", b"m06 value=9223372036854775807i", True),
    ("integer-min", b"m07 value=-9223372036854775808i", True),
    ("booleans", b"m08 a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE", True),
    ("string", b'm09 value="hello world"', True),
    ("string-escapes", b'm10 value="say \\"hi\\" C:\\\\dir"', True),
    ("string-other-backslash", b'm11 value="a\\nb"', True),
    ("string-comma-equals", b'm12 value="a,b=c d"', True),
    ("string-empty", b'm13 value=""', True),
    ("tags", b"m14,host=a,region=eu value=1", True),
    ("tags-unsorted", b"m15,z=1,a=2 value=1", True),
    ("escaped-measurement", b"m16\\ x\\,y value=1", True),
    ("escaped-tag", b"m17,k\\ e\\,y\\=1=v\\ a\\,l\\=2 value=1", True),
    ("escaped-field-key", b"m18 f\\ i\\,e\\=ld=1", True),
    ("timestamp", b"m19 value=1 1700000000000000000", True),
    ("timestamp-negative", b"m20 value=1 -1700000000000000000", True),
    ("timestamp-zero", b"m21 value=1 0", True),
    ("timestamp-max", b"m22 value=1 9223372036854775806", True),
    ("trailing-spaces", b"m23 value=1 1700000000000000000   ", True),
    ("duplicate-field", b"m24 value=1,value=2", True),
    ("unicode", "m25,ключ=значение поле=1".encode(), True),
    ("equals-in-measurement", b"m26=x value=1", True),
    ("tag-value-starts-with-equals", b"m27,a==b value=1", True),
    ("tag-and-field-same-key", b"m28,a=x a=1", True),
    ("leading-blanks", b"   m29 value=1", True),
    ("hash-inside", b"m30#x value=1", True),
    ("quote-in-field-key", b'm31 a"b=1', True),
    ("quote-in-tag-value", b'm32,a="b" value=1', True),
    ("many-fields", b'm33 a=1,b=2i,c=true,d="x"', True),
    ("spaces-before-fields", b"m34  value=1", True),
    ("spaces-before-time", b"m35 value=1  1700000000000000000", True),
    # invalid
    ("missing-fields", b"e01", False),
    ("missing-fields-after-tags", b"e02,a=1", False),
    ("missing-measurement", b",a=1 value=1", False),
    ("missing-tag-key", b"e04,=1 value=1", False),
    ("missing-tag-value", b"e05,a= value=1", False),
    ("tag-without-equals", b"e06,a value=1", False),
    ("tag-value-with-equals", b"e07,a=b=c value=1", False),
    ("duplicate-tags", b"e08,a=1,a=2 value=1", False),
    ("duplicate-tags-unsorted", b"e09,a=1,b=2,a=3 value=1", False),
    ("missing-field-key", b"e10 =1", False),
    ("missing-second-field-key", b"e11 a=1,=2", False),
    ("missing-field-value", b"e12 value=", False),
    ("missing-field-value-comma", b"e13 value=,b=1", False),
    ("field-without-equals", b"e14 value", False),
    ("trailing-comma-fields", b"e15 a=1,", False),
    ("unterminated-string", b'e16 value="abc', False),
    ("string-escaped-close", b'e17 value="abc\\"', False),
    ("nan", b"e18 value=NaN", False),
    ("nan-lower", b"e19 value=nan", False),
    ("inf", b"e20 value=inf", False),
    ("minus-inf", b"e21 value=-Inf", False),
    ("float-overflow", b"e22 value=1e400", False),
    ("two-dots", b"e23 value=1.2.3", False),
    ("bare-minus", b"e24 value=-", False),
    ("bare-dot", b"e25 value=.", False),
    ("integer-overflow", b"e26 value=9223372036854775808i", False),
    ("integer-underflow", b"e27 value=-9223372036854775809i", False),
    ("integer-with-dot", b"e28 value=1.5i", False),
    ("integer-suffix-inside", b"e29 value=1i2", False),
    ("bad-boolean", b"e30 value=yes", False),
    ("bad-boolean-case", b"e31 value=tRUE", False),
    ("bad-timestamp", b"e32 value=1 12a", False),
    ("float-timestamp", b"e33 value=1 1.5", False),
    ("timestamp-overflow", b"e34 value=1 9223372036854775808", False),
    ("timestamp-out-of-range", b"e35 value=1 9223372036854775807", False),
    ("timestamp-minus-only", b"e36 value=1 -", False),
    ("junk-after-timestamp", b"e37 value=1 1700000000000000000 x", False),
    ("unescaped-comma-field-key", b"e38 a,b=1", False),
    ("plus-sign", b"e39 value=+1", False),
    ("crlf", b"e40 value=1\r", False),
    ("exponent-without-digits", b"e41 value=1e", False),
]

INFLUXD_16_DIFFERENCES: list[tuple[str, bytes, bool, str]] = [
    (
        "unsigned",
        b"d01 value=5u",
        True,
        (
            "unsigned integers are part of the 2.x grammar; influxd 1.6 was built without "
            "them and answers 'invalid number'"
        ),
    ),
    (
        "invalid-utf8-string",
        b'd02 value="\xff"',
        False,
        "influxd 1.6 stores any bytes; stats-service keeps text and refuses invalid UTF-8",
    ),
    (
        "invalid-utf8-measurement",
        b"d\xff03 value=1",
        False,
        "as above, in a name",
    ),
]
"""Lines where influxd 1.6 and our parser part ways: ``(id, line, we accept, why)``."""

STORAGE_REFUSED: list[tuple[str, bytes]] = [
    ("time-field", b"s01 time=1"),
    ("time-tag", b"s02,time=x value=1"),
]
"""Lines the grammar accepts and influxd refuses when storing them (400 ``partial write``);
stats-service refuses them too, by its event model (``time`` is reserved)."""

MODEL_REFUSED: dict[str, str] = {
    "escaped-measurement": "measurements must match the event model's measurement rule",
    "equals-in-measurement": "as above",
    "hash-inside": "as above",
    "escaped-tag": "tag keys must match the event model's key rule",
    "unicode": "as above (ASCII letters, digits and '_')",
    "escaped-field-key": "field keys must match the key rule",
    "quote-in-field-key": "as above",
    "timestamp-negative": "stats-service stores times from 1970 on",
    "tag-and-field-same-key": "tags and fields share one namespace in the event model",
}
"""Valid lines stats-service refuses by its event model (400 naming the line), with why."""
