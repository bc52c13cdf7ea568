"""The stdlib ELF stripper the Dockerfile runs over site-packages, on a real shared object.

Fixture (tests/unit/data): `elf-probe.so`, built from `elf-probe.c` with
`gcc -g -O0 -shared -fPIC` on linux/amd64 (debug sections and a static symbol table on
purpose). Measured against binutils when it was committed: `strip --strip-unneeded` gives
13928 bytes, this module 13936 (the same sections; 8 bytes of alignment padding).
"""

from __future__ import annotations

import ctypes
import platform
import stat
import struct
from pathlib import Path

import pytest

from build_tools.image.elf_strip import (
    main,
    section_names,
    shared_objects,
    strip_bytes,
    strip_file,
)

PROBE = Path(__file__).parent / "data" / "elf-probe.so"
DROPPED = {".symtab", ".strtab", ".debug_info", ".debug_abbrev", ".debug_line", ".debug_str"}


def test_the_probe_carries_what_is_to_be_dropped() -> None:
    assert set(section_names(PROBE.read_bytes())) >= DROPPED  # the fixture is not pre-stripped


def test_drops_debug_sections_and_static_symbols_and_keeps_the_loaded_ones() -> None:
    before = PROBE.read_bytes()
    result = strip_bytes(before)
    assert result.data is not None
    names = section_names(result.data)
    assert not [n for n in names if n.startswith(".debug") or n in (".symtab", ".strtab")]
    assert set(result.dropped) >= DROPPED
    kept = [n for n in section_names(before) if n not in result.dropped]
    assert names == kept  # same order; .dynsym, .dynstr, .text, .comment, .shstrtab stay
    assert {".dynsym", ".dynstr", ".dynamic", ".text", ".shstrtab"} <= set(names)
    assert len(result.data) <= 13928 + 64  # binutils' size, within a little padding
    # The header's section count and string table index describe the new table.
    shnum, shstrndx = struct.unpack_from("<HH", result.data, 0x3C)
    assert shnum == len(names)
    assert names[shstrndx] == ".shstrtab"


def test_the_loaded_segments_are_byte_identical_past_the_elf_header() -> None:
    before = PROBE.read_bytes()
    after = strip_bytes(before).data
    assert after is not None
    phoff, phentsize, phnum = (
        struct.unpack_from("<Q", before, 0x20)[0],
        *struct.unpack_from("<HH", before, 0x36),
    )
    for n in range(phnum):
        _, _, offset, _, _, filesz, _, _ = struct.unpack_from(
            "<IIQQQQQQ", before, phoff + n * phentsize
        )
        start = max(offset, 64)  # the ELF header itself names the new section table
        assert after[start : offset + filesz] == before[start : offset + filesz]


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the probe is an x86_64 object")
def test_the_stripped_object_still_loads_and_runs(tmp_path: Path) -> None:
    copy = tmp_path / "elf-probe.so"
    copy.write_bytes(PROBE.read_bytes())
    copy.chmod(0o755)
    before, after = strip_file(copy)
    assert after < before == PROBE.stat().st_size
    assert stat.S_IMODE(copy.stat().st_mode) == 0o755  # in place, mode kept
    assert ctypes.CDLL(str(copy)).elf_probe_answer(2) == 42


def test_stripping_is_idempotent_and_deterministic() -> None:
    once = strip_bytes(PROBE.read_bytes()).data
    assert once is not None
    assert strip_bytes(PROBE.read_bytes()).data == once
    assert strip_bytes(once).data is None  # nothing left to drop: left as it is


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an elf file at all" * 4,
        b"\x7fELF\x01\x01" + bytes(60),
        b"\x7fELF\x02\x02" + bytes(60),
    ],
    ids=["empty", "text", "elf32", "big-endian"],
)
def test_anything_else_is_left_untouched(data: bytes) -> None:
    assert strip_bytes(data).data is None
    assert section_names(data) == []


def test_walks_shared_objects_in_order_and_strips_a_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "sub" / "b.cpython-313-x86_64-linux-gnu.so").write_bytes(PROBE.read_bytes())
    (tmp_path / "pkg" / "a.so").write_bytes(PROBE.read_bytes())
    (tmp_path / "pkg" / "libz.so.1").write_bytes(b"not elf")
    (tmp_path / "pkg" / "module.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "link.so").symlink_to(tmp_path / "pkg" / "a.so")
    found = [p.relative_to(tmp_path).as_posix() for p in shared_objects([tmp_path])]
    assert found == ["pkg/a.so", "pkg/libz.so.1", "pkg/sub/b.cpython-313-x86_64-linux-gnu.so"]
    assert main([str(tmp_path)]) == 0
    assert "stripped 2 shared objects" in capsys.readouterr().out
    assert (tmp_path / "pkg" / "libz.so.1").read_bytes() == b"not elf"
    assert ".symtab" not in section_names((tmp_path / "pkg" / "a.so").read_bytes())
