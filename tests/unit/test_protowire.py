"""The test-side protobuf codec against the wire format's published examples and protobuf."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2, timestamp_pb2, wrappers_pb2

from tests.support import protowire as pw


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (150, b"\x96\x01"),
        (300, b"\xac\x02"),
        (2**63, b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"),
        (-1, b"\xff" * 9 + b"\x01"),  # int32/int64 -1: ten bytes
    ],
)
def test_varints_encode_as_the_wire_format_defines(value: int, encoded: bytes) -> None:
    assert pw.encode_varint(value) == encoded
    decoded, end = pw.decode_varint(encoded)
    assert end == len(encoded)
    assert pw.as_signed(decoded) == (value if value < 2**63 else value - 2**64)


def test_the_documented_example_messages() -> None:
    # The encoding guide's Test1 {a: 150} and Test2 {b: "testing"}.
    assert pw.varint(1, 150) == bytes.fromhex("089601")
    assert pw.string(2, "testing") == bytes.fromhex("120774657374696e67")
    assert pw.decode(bytes.fromhex("089601")).integer(1) == 150


def test_defaults_are_omitted_unless_asked_for() -> None:
    assert pw.varint(1, 0) == b""
    assert pw.varint(1, False) == b""
    assert pw.string(1, "") == b""
    assert pw.varint(1, 0, always=True) == b"\x08\x00"
    assert pw.nested(3, b"") == b"\x1a\x00"  # a set but empty message is still written


def test_it_agrees_with_protobuf_on_well_known_types() -> None:
    stamp = timestamp_pb2.Timestamp(seconds=1_769_420_000, nanos=5)
    assert pw.message(pw.varint(1, stamp.seconds), pw.varint(2, 5)) == stamp.SerializeToString()
    assert pw.string(1, "héllo") == wrappers_pb2.StringValue(value="héllo").SerializeToString()
    negative = wrappers_pb2.Int64Value(value=-42).SerializeToString()
    assert pw.decode(negative).integer(1) == -42
    # Struct: map<string, Value> fields = 1; Value.string_value = 3.
    struct = struct_pb2.Struct()
    struct.update({"k": "v"})
    assert pw.message_map(1, {"k": pw.string(3, "v")}) == struct.SerializeToString()


def test_decoding_nested_repeated_and_map_fields() -> None:
    data = pw.message(
        pw.string(1, "first"),
        pw.string(1, "last"),  # proto3: the last scalar wins
        pw.repeated(2, [pw.string(1, "a"), pw.string(1, "b")]),
        pw.nested(3, pw.varint(1, 7)),
        pw.nested(3, pw.string(2, "merged")),  # two occurrences of a message merge
        pw.string_map(4, {"x": "1", "y": "2"}),
        pw.message_map(5, {"k": pw.varint(1, True)}),
        pw.length_delimited(6, pw.encode_varint(1) + pw.encode_varint(300)),  # packed
        pw.varint(6, 5),  # and one unpacked
    )
    fields = pw.decode(data)
    assert fields.text(1) == "last"
    assert fields.texts(1) == ["first", "last"]
    assert [m.text(1) for m in fields.messages(2)] == ["a", "b"]
    assert fields.message(3).integer(1) == 7
    assert fields.message(3).text(2) == "merged"
    assert fields.text_map(4) == {"x": "1", "y": "2"}
    assert fields.message_map(5)["k"].flag(1) is True
    assert fields.integers(6) == [1, 300, 5]
    assert fields.numbers() == {1, 2, 3, 4, 5, 6}
    assert fields.text(99) == ""
    assert fields.integer(99) == 0
    assert not fields.has(99)


def test_fixed_width_fields_are_skipped_over() -> None:
    data = bytes([1 << 3 | pw.I64]) + b"\x01" * 8 + bytes([2 << 3 | pw.I32]) + b"\x02" * 4
    data += pw.string(3, "after")
    assert pw.decode(data).text(3) == "after"


@pytest.mark.parametrize(
    "data",
    [
        b"\x08",  # varint field with no value
        b"\x0a\x05abc",  # length runs past the end
        b"\x0b",  # group start: not used by proto3
        b"\x00\x01",  # field number 0
        b"\x08" + b"\xff" * 11,  # varint too long
    ],
)
def test_malformed_bytes_are_rejected(data: bytes) -> None:
    with pytest.raises(pw.WireError):
        pw.decode(data)


def test_accessors_refuse_the_wrong_wire_type() -> None:
    fields = pw.decode(pw.varint(1, 3) + pw.string(2, "s"))
    with pytest.raises(pw.WireError, match="field 1 is a number"):
        fields.text(1)
    with pytest.raises(pw.WireError, match="field 2 is length-delimited"):
        fields.integer(2)
