"""The hermetic wheelhouse: every locked wheel for each target platform, downloaded on the host.

The Dockerfile installs dependencies with `pip install --no-index --find-links` from
`build/wheelhouse/<arch>/wheels/` on the *build* platform (`--platform` tags select the
target's wheels), so no network and no emulation are needed inside the build. Layout:

    build/wheelhouse/pip/pip-<version>-py3-none-any.whl    pip itself (the base may have none)
    build/wheelhouse/<arch>/wheels/*.whl                   the locked wheels for linux/<arch>
    build/wheelhouse/<arch>/pip-platforms.txt              pip --platform tags, one a line

`<arch>` is Docker's TARGETARCH (amd64, arm64). The warm path hashes the files already
there against the lock and downloads nothing when all are present.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from build_tools.config import ToolConfig
from build_tools.errors import ExternalCommandError, WheelhouseError
from build_tools.host import Host
from build_tools.platforms import LINUX_AMD64, LINUX_ARM64, PLATFORMS, Platform

# pip is pinned by hash like everything else; it is run from its wheel inside the build.
PIP_VERSION = "26.3"
PIP_SHA256 = "f3b60b20ffaadd4415ed7957212a38ac63fa4c5fa375bd0f4a797777940fad13"
PYTHON_VERSION = "3.13"  # the image's CPython minor (both bases)
# Both bases are Debian 13, glibc 2.41: any manylinux wheel up to 2.41 runs there.
MAX_GLIBC_MINOR = 41
PLATFORM_TAGS_FILE = "pip-platforms.txt"
# The oldest glibc each architecture's manylinux wheels were ever built for (by uname -m).
_MIN_GLIBC_MINOR = {LINUX_AMD64.machine: 5, LINUX_ARM64.machine: 17}
_LEGACY_ALIASES = {
    LINUX_AMD64.machine: ("manylinux2014", "manylinux2010", "manylinux1"),
    LINUX_ARM64.machine: ("manylinux2014",),
}
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)\s*(?:;(.*))?$")
_NO_MATCH = re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+(?:==[^\s;]+)?)")
_HASH_MISMATCH_LINE = re.compile(r"^\s+([A-Za-z0-9._-]+)==(\S+) from ", re.MULTILINE)


@dataclass(frozen=True)
class LockedRequirement:
    name: str  # normalized (PEP 503)
    version: str
    hashes: frozenset[str]
    marker: str | None  # environment marker text, e.g. "sys_platform != 'emscripten'"
    line: int


PIP_PIN = LockedRequirement("pip", PIP_VERSION, frozenset({PIP_SHA256}), None, 0)


@dataclass(frozen=True)
class WheelhouseStatus:
    platform: str
    directory: Path
    downloaded: bool  # False: every wheel was already present with a matching hash
    wheels: int


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def arch_of(platform: str) -> str:
    """Docker's TARGETARCH for a platform: the wheelhouse sub-directory name."""
    return _supported(platform).docker_arch


def _supported(platform: str) -> Platform:
    try:
        return PLATFORMS[platform]
    except KeyError:
        raise WheelhouseError(
            f"Choosing wheels for {platform}",
            "it is not a supported platform",
            f"Use one of {', '.join(PLATFORMS)}.",
        ) from None


def pip_platform_tags(platform: str) -> tuple[str, ...]:
    """pip `--platform` tags for `platform`, most specific first."""
    machine = _supported(platform).machine
    minors = range(MAX_GLIBC_MINOR, _MIN_GLIBC_MINOR[machine] - 1, -1)
    tags = [f"manylinux_2_{minor}_{machine}" for minor in minors]
    tags += [f"{alias}_{machine}" for alias in _LEGACY_ALIASES[machine]]
    return tuple(tags)


def parse_lock(text: str, source: str = "requirements.lock") -> list[LockedRequirement]:
    """Pinned, hashed requirements from a pip-compile / `uv pip compile` lock file."""
    logical_lines: list[tuple[int, str]] = []  # (first physical line, joined text)
    logical = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not logical:
            start = number
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical_lines.append((start, (logical + line).strip()))
        logical = ""
    logical_lines.append((start, logical.strip()))
    # Option lines (--index-url and the like) are pip's business, not requirements.
    return [
        _parse_requirement(entry, number, source)
        for number, entry in logical_lines
        if entry and not entry.startswith("--")
    ]


def _parse_requirement(text: str, line: int, source: str) -> LockedRequirement:
    hashes = frozenset(_HASH.findall(text))
    spec = _HASH.sub("", text).strip()
    match = _PIN.match(spec)
    if text.startswith("-") or match is None or not hashes:
        raise WheelhouseError(
            f"Reading {source} line {line}",
            f"{spec or text!r} is not an exact pin (name==version) with --hash=sha256 entries",
            "Regenerate the lock with `uv pip compile --generate-hashes`.",
        )
    marker = (match.group(4) or "").strip() or None
    return LockedRequirement(normalize(match.group(1)), match.group(3), hashes, marker, line)


def target_environment(platform: str) -> dict[str, str]:
    """PEP 508 marker values of the image's interpreter on `platform`."""
    return {
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": _supported(platform).machine,
        "python_version": PYTHON_VERSION,
        "python_full_version": f"{PYTHON_VERSION}.0",
    }


def applies_to(requirement: LockedRequirement, platform: str) -> bool:
    if requirement.marker is None:
        return True
    from packaging.markers import InvalidMarker, Marker

    try:
        return Marker(requirement.marker).evaluate(target_environment(platform))
    except InvalidMarker as exc:
        raise WheelhouseError(
            f"Reading the marker of {requirement.name} (lock line {requirement.line})",
            f"it is not a valid environment marker ({exc})",
            "Regenerate the lock with `uv pip compile --generate-hashes`.",
        ) from exc


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def missing_wheels(
    requirements: Iterable[LockedRequirement], wheel_dir: Path
) -> tuple[list[LockedRequirement], list[Path]]:
    """(requirements with no file of a locked hash, files matching no locked hash)."""
    present = {sha256_of(path): path for path in sorted(wheel_dir.glob("*.whl"))}
    wanted = list(requirements)
    missing = [req for req in wanted if not req.hashes & present.keys()]
    allowed = set().union(*(req.hashes for req in wanted)) if wanted else set()
    strays = [path for digest, path in present.items() if digest not in allowed]
    return missing, strays


def parse_pip_download_error(output: str, platform: str) -> WheelhouseError | None:
    """The WheelhouseError that pip's error `output` describes, or None if it is another failure."""
    what = f"Preparing the {platform} wheelhouse"
    if found := _NO_MATCH.search(output):
        package = found.group(1).split("==")[0]
        return WheelhouseError(
            what,
            f"{found.group(1)} has no wheel for {platform} (CPython {PYTHON_VERSION}, manylinux)",
            f"Lock a version of {package} that publishes such a wheel, or drop {platform}.",
        )
    if "DO NOT MATCH THE HASHES" in output:
        names = [f"{name}=={version}" for name, version in _HASH_MISMATCH_LINE.findall(output)]
        return WheelhouseError(
            what,
            f"the downloaded {', '.join(names) or 'files'} did not match the lock's hashes",
            "Regenerate the lock with `uv pip compile --generate-hashes`, or check the index.",
        )
    return None


def _pip_download(
    host: Host, python: str, args: Sequence[str], target: Path, platform: str
) -> None:
    argv = [
        python, "-m", "pip", "download", "--disable-pip-version-check", "--progress-bar", "off",
        "--only-binary=:all:", "--no-deps", "--require-hashes", "-d", str(target), *args,
    ]  # fmt: skip
    result = host.process.run(argv, check=False)
    if result.returncode == 0:
        return
    output = result.stderr + "\n" + result.stdout
    known = parse_pip_download_error(output, platform)
    if known is not None:
        raise known
    last = [line for line in output.splitlines() if line.strip()][-1:] or ["no output"]
    raise ExternalCommandError(
        f"`pip download` for the {platform} wheelhouse",
        f"it exited with {result.returncode}: {last[0].strip()}",
        "Check that the package index is reachable (pip config) and retry.",
    )


def _prepare_pip(root: Path, pin: LockedRequirement, host: Host, python: str, log: IO[str]) -> Path:
    pip_dir = root / "pip"
    pip_dir.mkdir(parents=True, exist_ok=True)
    missing, strays = missing_wheels([pin], pip_dir)
    if missing:
        log.write(f"wheelhouse: downloading pip {pin.version}\n")
        requirement = root / "pip-requirement.txt"
        hashes = " ".join(f"--hash=sha256:{digest}" for digest in sorted(pin.hashes))
        requirement.write_text(f"pip=={pin.version} {hashes}\n", encoding="utf-8")
        _pip_download(host, python, ["-r", str(requirement)], pip_dir, "any platform")
        missing, strays = missing_wheels([pin], pip_dir)
    if missing:
        raise WheelhouseError(
            "Downloading pip",
            f"no pip {pin.version} wheel with the pinned hash arrived",
            "Check the package index and retry.",
        )
    for stray in strays:
        stray.unlink()  # an older pinned pip: exactly one pip wheel keeps the glob unambiguous
    return pip_dir


def prepare_image_wheelhouse(
    config: ToolConfig, platforms: Sequence[str], host: Host, log: IO[str]
) -> None:
    """The wheelhouse the Dockerfile copies (`build/wheelhouse`) for `platforms`, filled by
    the toolchain's own interpreter and its pip (nox installs it): what build, publish and
    bench all use."""
    prepare_wheelhouse(
        config.lock_file,
        config.work_dir / "wheelhouse",
        platforms,
        host,
        python=sys.executable,
        log=log,
    )


def prepare_wheelhouse(
    lock_file: Path,
    root: Path,
    platforms: Sequence[str],
    host: Host,
    *,
    python: str,
    log: IO[str],
    pip_pin: LockedRequirement | None = None,
) -> list[WheelhouseStatus]:
    """Make `root/<arch>/wheels` hold exactly the locked wheels of each platform, plus pip.

    `python` runs `-m pip download` on the host (its pip configuration reaches the index).
    """
    try:
        requirements = parse_lock(lock_file.read_text(encoding="utf-8"), str(lock_file))
    except FileNotFoundError:
        raise WheelhouseError(
            "Reading the dependency lock",
            f"{lock_file} does not exist",
            "Create it with `uv pip compile --generate-hashes` in agent-runner/.",
        ) from None
    _prepare_pip(root, pip_pin or PIP_PIN, host, python, log)
    return [
        _prepare_platform(
            lock_file,
            requirements,
            root / arch_of(platform),
            platform,
            host,
            python=python,
            log=log,
        )
        for platform in platforms
    ]


def _prepare_platform(
    lock_file: Path,
    requirements: Sequence[LockedRequirement],
    arch_dir: Path,
    platform: str,
    host: Host,
    *,
    python: str,
    log: IO[str],
) -> WheelhouseStatus:
    wheel_dir = arch_dir / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    tags = pip_platform_tags(platform)
    tags_text = "".join(f"{tag}\n" for tag in tags)
    tags_file = arch_dir / PLATFORM_TAGS_FILE
    if not tags_file.is_file() or tags_file.read_text(encoding="utf-8") != tags_text:
        tags_file.write_text(tags_text, encoding="utf-8")  # rewritten only on change: cache key
    wanted = [req for req in requirements if applies_to(req, platform)]
    missing, strays = missing_wheels(wanted, wheel_dir)
    downloaded = bool(missing)
    if missing:
        log.write(f"wheelhouse: downloading {len(missing)} wheel(s) for {platform}\n")
        platform_args = [arg for tag in tags for arg in ("--platform", tag)]
        args = [
            "--python-version", PYTHON_VERSION, "--implementation", "cp", *platform_args,
            "-r", str(lock_file),
        ]  # fmt: skip
        _pip_download(host, python, args, wheel_dir, platform)
        missing, strays = missing_wheels(wanted, wheel_dir)
    if missing:
        names = ", ".join(f"{req.name}=={req.version}" for req in missing)
        raise WheelhouseError(
            f"Preparing the {platform} wheelhouse",
            f"pip downloaded no wheel with a locked hash for {names}",
            "Check the lock's environment markers and hashes (uv pip compile --generate-hashes).",
        )
    for stray in strays:
        stray.unlink()  # left from an older lock: it would change the build's cache key
    if not downloaded:
        log.write(f"wheelhouse: {platform}: all {len(wanted)} locked wheels present\n")
    return WheelhouseStatus(platform, arch_dir, downloaded, len(wanted))
