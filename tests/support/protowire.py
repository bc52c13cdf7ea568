"""A tiny protobuf wire-format codec that knows nothing of any .proto file or library.

Test doubles and tests use it to speak to the runner in upstream Stigmer's field numbers
without going through our generated classes, so a wrong number or type on our side shows
up as a failure instead of agreeing with itself. It covers what Stigmer's messages use:
varints (ints, bools, enums), length-delimited fields (strings, bytes, nested messages,
packed repeated varints), maps (repeated key=1/value=2 entries) and, for skipping only,
the fixed 32/64-bit types.

Encoding is explicit: `message(string(1, "x"), varint(2, 3), nested(4, message(...)))`.
Like protobuf's encoders, the scalar helpers write nothing for a proto3 default value
(empty string, 0, False) unless ``always=True``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

VARINT, I64, LEN, I32 = 0, 1, 2, 5
_MASK64 = (1 << 64) - 1


class WireError(ValueError):
    """Bytes that are not a valid protobuf message."""


def encode_varint(value: int) -> bytes:
    """Base-128 varint; negative numbers as 64-bit two's complement (as int32/int64 are)."""
    value &= _MASK64
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def decode_varint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """(value, position after it); the value is unsigned (see `as_signed`)."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireError(f"truncated varint at byte {pos}")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise WireError(f"varint longer than 10 bytes at byte {pos}")


def as_signed(value: int) -> int:
    """An int32/int64 read as an unsigned varint, back to its signed value."""
    return value - (1 << 64) if value >= 1 << 63 else value


def tag(number: int, wire_type: int) -> bytes:
    if number < 1:
        raise ValueError(f"field numbers start at 1, not {number}")
    return encode_varint(number << 3 | wire_type)


def varint(number: int, value: int | bool, *, always: bool = False) -> bytes:
    """An int, enum or bool field."""
    if not value and not always:
        return b""
    return tag(number, VARINT) + encode_varint(int(value))


def length_delimited(number: int, payload: bytes, *, always: bool = False) -> bytes:
    if not payload and not always:
        return b""
    return tag(number, LEN) + encode_varint(len(payload)) + payload


def string(number: int, value: str, *, always: bool = False) -> bytes:
    return length_delimited(number, value.encode("utf-8"), always=always)


def nested(number: int, body: bytes) -> bytes:
    """A message field; written even when empty, as protobuf does for a set message."""
    return length_delimited(number, body, always=True)


def repeated(number: int, bodies: Iterable[bytes]) -> bytes:
    """A repeated message field: one entry per body."""
    return b"".join(nested(number, body) for body in bodies)


def string_map(number: int, entries: Mapping[str, str]) -> bytes:
    """map<string, string>."""
    return repeated(number, (string(1, k) + string(2, v) for k, v in entries.items()))


def message_map(number: int, entries: Mapping[str, bytes]) -> bytes:
    """map<string, SomeMessage> (values are encoded message bodies)."""
    return repeated(number, (string(1, k) + nested(2, v) for k, v in entries.items()))


def message(*fields: bytes) -> bytes:
    return b"".join(fields)


@dataclass(frozen=True)
class Fields:
    """A decoded message: field number -> raw values in wire order.

    Values are ints (varint and fixed types) or bytes (length-delimited). The accessors
    apply proto3 semantics: a missing scalar is its default, the last scalar wins, and
    several occurrences of a message field merge.
    """

    raw: Mapping[int, tuple[int | bytes, ...]] = field(default_factory=dict)

    def numbers(self) -> set[int]:
        return set(self.raw)

    def has(self, number: int) -> bool:
        return number in self.raw

    def _all(self, number: int) -> tuple[int | bytes, ...]:
        return self.raw.get(number, ())

    def blob(self, number: int) -> bytes:
        """A bytes field (or the raw body of any length-delimited one)."""
        values = self._all(number)
        if not values:
            return b""
        last = values[-1]
        if not isinstance(last, bytes):
            raise WireError(f"field {number} is a number, not length-delimited")
        return last

    def text(self, number: int) -> str:
        return self.blob(number).decode("utf-8")

    def integer(self, number: int) -> int:
        """An int32/int64/enum field (signed)."""
        values = self._all(number)
        if not values:
            return 0
        last = values[-1]
        if isinstance(last, bytes):
            raise WireError(f"field {number} is length-delimited, not a number")
        return as_signed(last)

    def flag(self, number: int) -> bool:
        return self.integer(number) != 0

    def message(self, number: int) -> Fields:
        parts = [v for v in self._all(number) if isinstance(v, bytes)]
        return decode(b"".join(parts))

    def messages(self, number: int) -> list[Fields]:
        return [decode(v) for v in self._all(number) if isinstance(v, bytes)]

    def texts(self, number: int) -> list[str]:
        return [v.decode("utf-8") for v in self._all(number) if isinstance(v, bytes)]

    def integers(self, number: int) -> list[int]:
        """A repeated int/enum field, packed or not."""
        out: list[int] = []
        for value in self._all(number):
            if isinstance(value, int):
                out.append(as_signed(value))
                continue
            pos = 0
            while pos < len(value):
                item, pos = decode_varint(value, pos)
                out.append(as_signed(item))
        return out

    def text_map(self, number: int) -> dict[str, str]:
        return {entry.text(1): entry.text(2) for entry in self.messages(number)}

    def message_map(self, number: int) -> dict[str, Fields]:
        return {entry.text(1): entry.message(2) for entry in self.messages(number)}


def decode(data: bytes) -> Fields:
    fields: dict[int, list[int | bytes]] = {}
    pos = 0
    while pos < len(data):
        key, pos = decode_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number < 1:
            raise WireError(f"field number 0 at byte {pos}")
        value: int | bytes
        if wire_type == VARINT:
            value, pos = decode_varint(data, pos)
        elif wire_type == LEN:
            size, pos = decode_varint(data, pos)
            if pos + size > len(data):
                raise WireError(f"field {number} runs past the end ({size} bytes at {pos})")
            value, pos = data[pos : pos + size], pos + size
        elif wire_type in (I64, I32):
            width = 8 if wire_type == I64 else 4
            if pos + width > len(data):
                raise WireError(f"truncated fixed-width field {number}")
            value, pos = int.from_bytes(data[pos : pos + width], "little"), pos + width
        else:
            raise WireError(f"unsupported wire type {wire_type} for field {number}")
        fields.setdefault(number, []).append(value)
    return Fields({number: tuple(values) for number, values in fields.items()})
