"""Strip debug information and the static symbol table from ELF64 shared objects; stdlib only.

The Dockerfile's deps stage runs this over site-packages (`python3 elf_strip.py DIR...`):
the offline base has no binutils and the final stage must not carry any, so `strip` is
not available where the wheels are installed. What it removes is what
`strip --strip-unneeded` removes from a shared object: the non-allocated `.debug*`,
`.symtab` and `.strtab` sections (and relocations for them). The loaded segments, and so
`.dynsym`/`.dynstr` and everything the dynamic loader reads, stay byte-identical; only
the bytes after them are rewritten: the kept non-allocated sections (`.comment`, notes,
...), a fresh `.shstrtab` and the section header table.

Handles little-endian ELF64 (x86_64, aarch64). Anything else (not ELF, 32-bit, big-endian,
a dropped section placed before a loaded one) is left untouched: the output is a pure
function of the input, so builds stay reproducible.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SHF_ALLOC = 0x2
_SHF_INFO_LINK = 0x40
_SHT_NOBITS = 8
_SHT_REL, _SHT_RELA = 9, 4
_DROPPED_NAMES = (".symtab", ".strtab")


@dataclass(frozen=True)
class Section:
    name: int
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int

    def pack(self) -> bytes:
        return _SHDR.pack(*(getattr(self, f) for f in Section.__dataclass_fields__))


@dataclass(frozen=True)
class Stripped:
    """What `strip_bytes` did: the new bytes (None: left as it was) and the dropped names."""

    data: bytes | None
    dropped: tuple[str, ...]


def _name(strtab: bytes, offset: int) -> str:
    end = strtab.find(b"\0", offset)
    return strtab[offset : end if end >= 0 else len(strtab)].decode("ascii", "replace")


def section_names(data: bytes) -> list[str]:
    """The section names of an ELF64 little-endian file, in header order ([] otherwise)."""
    parsed = _parse(data)
    if parsed is None:
        return []
    sections, shstrtab = parsed[1], parsed[2]
    return [_name(shstrtab, s.name) for s in sections]


def _parse(data: bytes) -> tuple[tuple[int, ...], list[Section], bytes] | None:
    if len(data) < _EHDR.size or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None  # not ELF, not 64-bit or not little-endian
    header = _EHDR.unpack_from(data)
    shoff, shentsize, shnum, shstrndx = header[6], header[11], header[12], header[13]
    if shoff == 0 or shnum == 0 or shentsize != _SHDR.size or shstrndx >= shnum:
        return None  # no section table, or extended numbering (never in a .so of ours)
    if shoff + shnum * shentsize > len(data):
        return None
    sections = [Section(*_SHDR.unpack_from(data, shoff + n * shentsize)) for n in range(shnum)]
    names = sections[shstrndx]
    return header, sections, data[names.offset : names.offset + names.size]


def _segments_end(data: bytes, header: tuple[int, ...]) -> int:
    phoff, phentsize, phnum = header[5], header[9], header[10]
    ends = [_EHDR.size, phoff + phentsize * phnum]
    for n in range(phnum):
        _, _, offset, _, _, filesz, _, _ = _PHDR.unpack_from(data, phoff + n * phentsize)
        ends.append(offset + filesz)
    return max(ends)


def _align(value: int, alignment: int) -> int:
    return value if alignment <= 1 else (value + alignment - 1) // alignment * alignment


def _droppable(sections: list[Section], names: list[str], shstrndx: int) -> set[int]:
    """Indices of the debug and static-symbol sections, and of what refers to them."""

    def movable(index: int) -> bool:
        return bool(index) and not sections[index].flags & _SHF_ALLOC and index != shstrndx

    dropped = {
        n
        for n in range(len(sections))
        if movable(n) and (names[n].startswith(".debug") or names[n] in _DROPPED_NAMES)
    }
    # Relocations of dropped sections, and sections linked to them, go with them.
    dropped |= {
        n
        for n, s in enumerate(sections)
        if movable(n)
        and (s.link in dropped or (s.type in (_SHT_REL, _SHT_RELA) and s.info in dropped))
    }
    return dropped


def _safe_to_drop(sections: list[Section], dropped: set[int], loaded_end: int) -> bool:
    """Whether dropping keeps every loaded byte and every allocated section's index."""
    last_alloc = max((n for n, s in enumerate(sections) if s.flags & _SHF_ALLOC), default=0)
    if min(dropped) < last_alloc or any(sections[n].offset < loaded_end for n in dropped):
        return False  # renumbering would move .dynsym's section indices
    # A kept non-allocated section inside the segments could not be moved.
    return not any(
        n not in dropped and s.size and s.type != _SHT_NOBITS and s.offset < loaded_end
        for n, s in enumerate(sections)
        if n and not s.flags & _SHF_ALLOC
    )


def strip_bytes(data: bytes) -> Stripped:
    """`data` without its debug sections and static symbol table (see the module doc)."""
    parsed = _parse(data)
    if parsed is None:
        return Stripped(None, ())
    header, sections, shstrtab = parsed
    shstrndx = header[13]
    names = [_name(shstrtab, s.name) for s in sections]
    loaded_end = _segments_end(data, header)
    dropped = _droppable(sections, names, shstrndx)
    if not dropped or not _safe_to_drop(sections, dropped, loaded_end):
        return Stripped(None, ())
    kept = [n for n in range(len(sections)) if n not in dropped]
    new_index = {old: new for new, old in enumerate(kept)}
    # A fresh .shstrtab holding the kept names only.
    strings = bytearray(b"\0")
    name_offsets: dict[str, int] = {"": 0}
    for n in kept:
        if names[n] not in name_offsets:
            name_offsets[names[n]] = len(strings)
            strings += names[n].encode("ascii") + b"\0"
    out = bytearray(data[:loaded_end])
    new_sections: list[Section] = []
    for n in kept:
        section = sections[n]
        link = new_index.get(section.link, 0)
        info = section.info
        if section.type in (_SHT_REL, _SHT_RELA) or section.flags & _SHF_INFO_LINK:
            info = new_index.get(info, 0)
        moved = replace(section, name=name_offsets[names[n]], link=link, info=info)
        if n == shstrndx:
            out += b"\0" * (_align(len(out), section.addralign) - len(out))
            moved = replace(moved, offset=len(out), size=len(strings))
            out += strings
        elif n and not section.flags & _SHF_ALLOC and section.type != _SHT_NOBITS:
            out += b"\0" * (_align(len(out), section.addralign) - len(out))
            moved = replace(moved, offset=len(out))
            out += data[section.offset : section.offset + section.size]
        new_sections.append(moved)
    out += b"\0" * (_align(len(out), 8) - len(out))
    shoff = len(out)
    for section in new_sections:
        out += section.pack()
    fields = list(header)
    fields[6], fields[12], fields[13] = shoff, len(new_sections), new_index[shstrndx]
    out[: _EHDR.size] = _EHDR.pack(*fields)
    return Stripped(bytes(out), tuple(names[n] for n in sorted(dropped)))


def shared_objects(roots: Iterable[Path]) -> Iterator[Path]:
    """Every regular `*.so` / `*.so.N` file under `roots`, in sorted order (no symlinks)."""
    for root in roots:
        for directory, subdirectories, files in os.walk(root):
            subdirectories.sort()
            for name in sorted(files):
                path = Path(directory, name)
                if (name.endswith(".so") or ".so." in name) and not path.is_symlink():
                    yield path


def strip_file(path: Path) -> tuple[int, int]:
    """Strip `path` in place (mode kept); its size before and after."""
    data = path.read_bytes()
    result = strip_bytes(data)
    if result.data is not None:
        with path.open("r+b") as file:
            file.write(result.data)
            file.truncate()
    return len(data), len(data) if result.data is None else len(result.data)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: elf_strip.py DIR_OR_FILE...", file=sys.stderr)
        return 2
    before = after = count = 0
    for path in shared_objects(Path(a) for a in argv if Path(a).is_dir()):
        old, new = strip_file(path)
        before, after, count = before + old, after + new, count + (new != old)
        if old - new >= 1_000_000:
            print(f"{path}: {old / 1e6:.1f} MB -> {new / 1e6:.1f} MB")
    for path in (Path(a) for a in argv if Path(a).is_file()):
        old, new = strip_file(path)
        before, after, count = before + old, after + new, count + (new != old)
    print(f"stripped {count} shared objects: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
