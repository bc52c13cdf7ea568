"""Debian pieces of the offline base: the host's archive URI and finishing an extracted rootfs.

`mmdebstrap --variant=extract` unpacks packages without running their maintainer
scripts (that is what makes a foreign-architecture rootfs possible without emulation);
`finish_rootfs` does by hand the parts of those scripts a Python base image needs.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from build_tools.errors import BuildError, ConfigError

SUITE = "trixie"
# Suites whose archive URI can serve trixie; trixie's own entry first.
_MIRROR_SUITES = ("trixie", "bookworm")
# Dropped from the rootfs: documentation and package lists nothing at run time reads.
# The directories themselves stay; license files under usr/share/doc stay too.
_DROPPED_CONTENTS = (
    "usr/share/doc/",
    "usr/share/man/",
    "usr/share/info/",
    "usr/share/locale/",
    "usr/share/lintian/",
    "var/lib/apt/lists/",
    "var/cache/apt/",
    "dev/",  # the engine provides /dev
)
# Copied from the build host by mmdebstrap; the engine mounts its own at run time.
_DROPPED_FILES = ("etc/resolv.conf", "etc/hostname")
_CA_SOURCE = "usr/share/ca-certificates/"
_CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
_PYTHON_CHANGELOG = "usr/share/doc/python3.13-minimal/changelog.Debian.gz"

# -- Debian archive URI from the host's apt sources ---------------------------------------


def _deb822_entries(text: str) -> Iterable[tuple[list[str], list[str], list[str]]]:
    """(types, uris, suites) of each enabled paragraph of a deb822 .sources file."""
    fields: dict[str, str] = {}
    last = ""
    for line in [*text.splitlines(), ""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields and fields.get("enabled", "yes").lower() != "no":
                yield (
                    fields.get("types", "").split(),
                    fields.get("uris", "").split(),
                    fields.get("suites", "").split(),
                )
            fields, last = {}, ""
        elif line[0] in " \t" and last:
            fields[last] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip().lower()
            fields[last] = value.strip()


def _one_line_entries(text: str) -> Iterable[tuple[list[str], list[str], list[str]]]:
    """(types, uris, suites) of each `deb [options] URI SUITE COMPONENTS` line."""
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if len(words) < 3:
            continue
        kind, rest = words[0], words[1:]
        if rest[0].startswith("["):
            while rest and not rest[0].endswith("]"):
                rest = rest[1:]
            rest = rest[1:]
        if len(rest) >= 2:
            yield [kind], [rest[0]], [rest[1]]


def debian_mirror(apt_dir: Path) -> str:
    """The archive URI the host's apt already uses for trixie (or bookworm)."""
    found: dict[str, str] = {}
    parts = apt_dir / "sources.list.d"
    files = [
        apt_dir / "sources.list",
        *sorted(parts.glob("*.list")),
        *sorted(parts.glob("*.sources")),
    ]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        entries = _deb822_entries(text) if path.suffix == ".sources" else _one_line_entries(text)
        for types, uris, suites in entries:
            for suite in suites:
                if "deb" in types and uris and suite in _MIRROR_SUITES:
                    found.setdefault(suite, uris[0].rstrip("/"))
    for suite in _MIRROR_SUITES:
        if suite in found:
            return found[suite]
    raise ConfigError(
        f"Finding a Debian archive in {apt_dir}",
        f"no apt source lists suite {' or '.join(_MIRROR_SUITES)}",
        f"Add a 'deb' entry for {_MIRROR_SUITES[-1]} to {parts} (the project's hosts have one).",
    )


# -- rootfs post-processing ------------------------------------------------------------------


@dataclass(frozen=True)
class RootfsFacts:
    python_version: str  # Debian package version of python3.13-minimal
    debian_version: str  # point release, from the archive's InRelease
    archive_date: str  # RFC 3339 date of that InRelease

    def labels(self) -> dict[str, str]:
        upstream = self.python_version.split("-", 1)[0]
        return {
            "org.opencontainers.image.title": "agent-runner-base-python",
            "org.opencontainers.image.version": self.python_version,
            # The content is the archive's state at this date, not the build's wall clock.
            "org.opencontainers.image.created": self.archive_date,
            "org.opencontainers.image.description": (
                f"Python {upstream} from Debian {self.debian_version} ({SUITE}) packages,"
                f" archive of {self.archive_date}"
            ),
        }


def _dropped(name: str) -> bool:
    if name in _DROPPED_FILES:
        return True
    for prefix in _DROPPED_CONTENTS:
        if name.startswith(prefix) and name != prefix:
            # Licenses stay with the binaries they cover.
            return not (prefix == "usr/share/doc/" and name.endswith("/copyright"))
    return False


def _is_template(name: str) -> bool:
    """Files that `_additions` builds from: CA certificates and base-passwd's masters."""
    if name.startswith(_CA_SOURCE):
        return name.endswith(".crt")
    return name.startswith("usr/share/base-passwd/") and name.endswith(".master")


def _regular(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(f"./{name}")
    info.size, info.mode, info.mtime = len(data), mode, 0
    return info, data


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(f"./{name}")
    info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, 0
    return info


def _release_facts(in_release: bytes) -> tuple[str, str]:
    fields = dict(line.split(": ", 1) for line in in_release.decode().splitlines() if ": " in line)
    date = parsedate_to_datetime(fields["Date"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    return fields.get("Version", SUITE), date


def finish_rootfs(raw_tar: Path, rootfs_tar: Path) -> RootfsFacts:
    """Write `rootfs_tar`: `raw_tar` minus docs and lists, plus what postinst scripts make.

    Works on the tar stream, so ownership and modes come from the archive, not from
    whoever runs this.
    """
    keep: dict[str, bytes] = {}  # small files the additions are made from
    release = python = None
    with (
        tarfile.open(raw_tar) as source,
        tarfile.open(rootfs_tar, "w", format=tarfile.GNU_FORMAT) as out,
    ):
        names = set()
        for member in source:
            name = member.name.removeprefix("./").rstrip("/")
            content = source.extractfile(member) if member.isfile() else None
            if name.startswith("var/lib/apt/lists/") and name.endswith("_InRelease") and content:
                release = content.read()
                content = None
            elif name == _PYTHON_CHANGELOG and content:
                python = gzip.decompress(content.read()).split(b"\n", 1)[0].decode()
                content = None
            elif content and _is_template(name):
                keep[name] = content.read()
                content = io.BytesIO(keep[name])
            if _dropped(name) or name == _CA_BUNDLE:
                continue
            if name == "tmp" and member.isdir():
                member.mode = 0o1777  # normally set by base-files' postinst
            names.add(name)
            if content is None and member.isfile():
                content = source.extractfile(member)
            out.addfile(member, content)
        for addition, data in _additions(names, keep):
            out.addfile(addition, io.BytesIO(data) if data is not None else None)
    if release is None or python is None:
        rootfs_tar.unlink(missing_ok=True)
        raise BuildError(
            f"Finishing the rootfs from {raw_tar}",
            "it lacks the archive's InRelease or python3.13-minimal's changelog",
            "Rebuild it with the plan's mmdebstrap command (it keeps apt lists).",
        )
    debian_version, archive_date = _release_facts(release)
    # "python3.13 (3.13.5-2+deb13u5) trixie; urgency=medium" -> the version in parentheses.
    python_version = python.split("(", 1)[1].split(")", 1)[0] if "(" in python else python
    return RootfsFacts(python_version, debian_version, archive_date)


def _additions(
    names: set[str], keep: Mapping[str, bytes]
) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Files the skipped maintainer scripts would have created."""
    added: list[tuple[tarfile.TarInfo, bytes | None]] = []
    if "usr/bin/python3" not in names:
        added.append((_symlink("usr/bin/python3", "python3.13"), None))
    if "usr/bin/sh" not in names:
        added.append((_symlink("usr/bin/sh", "dash"), None))
    for name in ("passwd", "group"):
        template = keep.get(f"usr/share/base-passwd/{name}.master")
        if f"etc/{name}" not in names and template is not None:
            added.append(_regular(f"etc/{name}", template))
    # update-ca-certificates with every certificate enabled, as its default config does.
    certs = [keep[name] for name in sorted(keep) if name.startswith(_CA_SOURCE)]
    if certs:
        bundle = b"".join(cert if cert.endswith(b"\n") else cert + b"\n" for cert in certs)
        added.append(_regular(_CA_BUNDLE, bundle))
    return added
