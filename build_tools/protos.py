"""Regenerate, or check, agent-runner's protobuf code from its own .proto files.

The .proto files in `agent-runner/src/agent_runner/wire/` are ours (written from upstream
Stigmer's field numbers); their `_pb2.py` and `_pb2.pyi` modules are committed so the image
and the tests need no code generator. `protos` rewrites them; `protos --check` regenerates
into a scratch directory and names every committed file that differs, so drift fails CI.

protoc runs in-process (`grpc_tools.protoc.main`), imported lazily: grpcio-tools is only in
the `test` extra. The generated text depends only on the .proto files and the grpcio-tools
version, which the `test` extra pins.
"""

from __future__ import annotations

import importlib
import importlib.resources
import tempfile
from pathlib import Path
from types import ModuleType

from build_tools.config import ToolConfig
from build_tools.errors import ConfigError, ExternalCommandError
from build_tools.host import Host
from build_tools.options import ProtosArguments
from build_tools.project import RUNNER_SOURCES

PROTO_ROOT = RUNNER_SOURCES  # the -I root: imports read "agent_runner/wire/x.proto"
WIRE_DIR = Path("agent_runner/wire")  # relative to PROTO_ROOT
GENERATED_PATTERNS = ("*_pb2.py", "*_pb2.pyi")
_WHAT = "Generating agent-runner's protobuf code"


def _load_protoc() -> ModuleType:
    try:
        return importlib.import_module("grpc_tools.protoc")
    except ModuleNotFoundError as missing:
        raise ConfigError(
            _WHAT,
            f"the Python package {missing.name!r} (grpcio-tools) is not installed",
            "Run it through `nox -s protos`, or `pip install -e .[test]`.",
        ) from missing


def proto_files(proto_root: Path) -> list[Path]:
    """Our .proto files, as paths relative to the proto root (protoc's virtual paths)."""
    return sorted(path.relative_to(proto_root) for path in (proto_root / WIRE_DIR).glob("*.proto"))


def generated_files(root: Path) -> list[Path]:
    """Generated modules under `root` (a proto root or an output directory), relative to it."""
    found = {path for pattern in GENERATED_PATTERNS for path in (root / WIRE_DIR).glob(pattern)}
    return sorted(path.relative_to(root) for path in found)


def generate(proto_root: Path, out_dir: Path) -> list[Path]:
    """Run protoc over every .proto file into `out_dir`; return the files it wrote."""
    protoc = _load_protoc()
    sources = proto_files(proto_root)
    if not sources:
        raise ConfigError(
            _WHAT,
            f"{proto_root / WIRE_DIR} holds no .proto file",
            "Run it from the repository root.",
        )
    # google/protobuf/*.proto (struct, timestamp) ship inside grpc_tools.
    bundled = importlib.resources.files("grpc_tools") / "_proto"
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        "protoc",  # argv[0]: ignored by protoc
        f"--proto_path={proto_root.resolve()}",
        f"--proto_path={bundled}",
        f"--python_out={out_dir.resolve()}",
        f"--pyi_out={out_dir.resolve()}",
        # Absolute on-disk names: protoc maps them to "agent_runner/wire/x.proto" through
        # the first --proto_path, whatever the working directory.
        *(str(proto_root.resolve() / source) for source in sources),
    ]
    code = int(protoc.main(argv))
    if code != 0:
        raise ExternalCommandError(
            _WHAT,
            f"protoc exited with code {code} (its messages are above)",
            f"Fix the .proto files in {PROTO_ROOT / WIRE_DIR} and rerun `nox -s protos`.",
        )
    return generated_files(out_dir)


def differences(expected_root: Path, actual_root: Path) -> list[str]:
    """Generated files that differ between two trees: changed, missing or stale."""
    expected = set(generated_files(expected_root))
    actual = set(generated_files(actual_root))
    problems = [f"{path}: missing" for path in sorted(expected - actual)]
    problems += [f"{path}: stale (no .proto generates it)" for path in sorted(actual - expected)]
    problems += [
        f"{path}: differs"
        for path in sorted(expected & actual)
        if (expected_root / path).read_bytes() != (actual_root / path).read_bytes()
    ]
    return sorted(problems)


def sync(generated_root: Path, target_root: Path) -> list[str]:
    """Make the target tree's generated files equal the fresh ones; say what changed."""
    changes: list[str] = []
    for path in generated_files(target_root):
        if not (generated_root / path).exists():
            (target_root / path).unlink()
            changes.append(f"{path}: removed")
    for path in generated_files(generated_root):
        fresh, target = (generated_root / path).read_bytes(), target_root / path
        if not target.exists() or target.read_bytes() != fresh:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(fresh)
            changes.append(f"{path}: written")
    return sorted(changes)


def run_protos(args: ProtosArguments, config: ToolConfig, host: Host) -> int:
    proto_root = config.project_root / PROTO_ROOT
    with tempfile.TemporaryDirectory(prefix="agent-runner-protos-") as scratch:
        fresh = Path(scratch)
        generate(proto_root, fresh)
        if args.check:
            problems = differences(fresh, proto_root)
            if problems:
                raise ConfigError(
                    "Checking agent-runner's protobuf code",
                    f"{len(problems)} generated file(s) do not match the .proto files: "
                    + ", ".join(problems),
                    "Run `nox -s protos` and commit the result.",
                )
            print(f"{PROTO_ROOT / WIRE_DIR}: generated code matches the .proto files")
            return 0
        target = args.out if args.out is not None else proto_root
        changes = sync(fresh, target)
        print(f"{target / WIRE_DIR}: {len(changes) or 'no'} generated file(s) changed")
        for change in changes:
            print(f"  {change}")
    return 0
