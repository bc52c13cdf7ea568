"""The built image, checked in the real engine and registry (see conftest's `built_image`)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from build_tools.config import ToolConfig
from build_tools.docker import BuildxRequest
from build_tools.host import Host
from build_tools.image.build import gather_source_info
from build_tools.image.plan import BuildOptions, make_build_plan
from build_tools.runtime.contract_loader import load_contract, read_contract
from tests.integration.conftest import PROJECT_ROOT, TEST_IMAGE, BuiltImage

APP_DIR = "/opt/agent-runner/app"
SITE_DIR = "/opt/agent-runner/site-packages"

# Runs inside the image (stdlib only). Mode "all": every module of agent-runner and of every
# installed distribution, found with pkgutil (namespace packages such as google.* walked
# too). Mode "arch": what differs per architecture: each distribution's top-level packages,
# every compiled extension module, and agent-runner's modules. Prints one JSON object.
IMPORT_SCRIPT = r"""
import importlib, importlib.metadata, json, pkgutil, sys, time, warnings
from pathlib import Path

warnings.simplefilter("ignore")
APP, SITE = Path(sys.argv[2]), Path(sys.argv[3])
failures = {}

def record(name):
    failures[name] = "%s: %s" % (sys.exc_info()[0].__name__, sys.exc_info()[1])

def walk(path, prefix="", namespaces=True):
    # iter_modules reads directories only: walk_packages would import every package to find
    # its children, and a package that exits when imported (mcp.cli without typer) would
    # end this script instead of being recorded below.
    for info in pkgutil.iter_modules([str(path)], prefix):
        yield info.name
        if info.ispkg:
            yield from walk(path / info.name.rsplit(".", 1)[-1], info.name + ".", False)
    # namespace packages (no __init__.py, nor a sourceless __init__.pyc): pkgutil does not
    # list them
    for child in sorted(path.iterdir()) if namespaces else ():
        if child.is_dir() and child.name.isidentifier() and not is_package(child):
            if any(next(child.rglob(pattern), None) for pattern in ("*.py", "*.pyc", "*.so")):
                yield from walk(child, prefix + child.name + ".")

def is_package(path):
    return (path / "__init__.py").exists() or (path / "__init__.pyc").exists()

def module_of(parts):
    parts = parts[:-1] if parts[-1] in ("__init__.py", "__init__.pyc") else parts
    return ".".join((*parts[:-1], parts[-1].split(".")[0]))

def arch_names():
    names = set(walk(APP))
    for dist in importlib.metadata.distributions(path=[str(SITE)]):
        for file in dist.files or ():
            parts = file.parts
            if not parts[-1].endswith((".py", ".so")) or parts[0].startswith(("_", "..")):
                continue
            if len(parts) == 1:
                names.add(module_of(parts))
            elif is_package(SITE / parts[0]):
                names.add(parts[0])
            else:  # a namespace package: its sub-packages are the distribution's
                names.add(module_of(parts[:2]))
    names.update(module_of(so.relative_to(SITE).parts) for so in SITE.rglob("*.so"))
    return names

names = set(walk(APP)) | set(walk(SITE)) if sys.argv[1] == "all" else arch_names()
names = sorted(n for n in names if all(p.isidentifier() for p in n.split(".")))
started = time.monotonic()
for name in names:
    if name.rsplit(".", 1)[-1] == "__main__" or name in sys.modules or name in failures:
        continue  # __main__ modules run their program when imported
    try:
        importlib.import_module(name)
    except BaseException:
        record(name)
seconds = time.monotonic() - started
print(json.dumps({"count": len(names), "seconds": seconds, "failures": failures}))
"""

# Modules that may fail to import, and why. Keyed by the module missing at import time:
# all are optional extras or other platforms' backends that the lock deliberately leaves out.
OPTIONAL_MISSING = {
    "trio": "trio backends of anyio/httpcore/websockets; the runner uses asyncio",
    "h2": "HTTP/2 support of httpcore/urllib3 (extra `http2`), not used",
    "socksio": "SOCKS proxy support of httpcore (extra `socks`), not used",
    "socks": "SOCKS proxy support of urllib3 (extra `socks`), not used",
    "click": "the `httpx` command-line client (extra `cli`)",
    "wsproto": "httpx2 websockets (extra), not used",
    "aiohttp": "aiohttp transports of anthropic and temporalio's GCS driver (extras)",
    "langchain": "langchain_anthropic.middleware needs the full `langchain` package",
    "opentelemetry.sdk": "OpenTelemetry SDK integrations (extras); only the API is locked",
    "pytest": "pytest plugins shipped inside runtime packages",
    "hypothesis": "pydantic.v1's hypothesis plugin (test tooling)",
    "mypy": "pydantic's mypy plugin (type-checking tooling)",
    "OpenSSL": "pyOpenSSL adapters of urllib3/requests_toolbelt; the stdlib ssl is used",
    "grpc": "temporalio's generated gRPC stubs; the SDK talks gRPC through its Rust core",
    "google.api": "temporalio's generated service descriptors need googleapis-common-protos",
    "botocore": "temporalio's S3 payload driver (extra `aws`)",
    "tornado": "tenacity's tornado integration",
    "google_benchmark": "protobuf's internal benchmarks",
    "_cffi_backend": "zstandard's CFFI backend; its C backend is used",
    "js": "urllib3's emscripten (browser) backend",
    "temporalio.openai_agents": "temporalio.contrib plugin needing its extra",
    "temporalio.strands_agents": "temporalio.contrib plugin needing its extra",
    "temporalio.deepagents": "temporalio.contrib plugin needing its extra",
    "temporalio.google_adk": "temporalio.contrib plugin needing its extra",
    "temporalio.google_genai": "temporalio.contrib plugin needing its extra",
    "temporalio.langgraph": "temporalio.contrib plugin needing its extra",
    "temporalio.langsmith": "temporalio.contrib plugin needing its extra",
    # Optional parts of the agent stack (graphton, langchain, langmem, mcp, google-genai).
    "IPython": "python-dotenv's IPython magic",
    "rsa": "google-auth's pure-Python RSA signer; cryptography's is used",
    "sentencepiece": "google-genai's local tokenizer (extra)",
    "pygments": "the httpx/httpx2 command-line clients (extra `cli`)",
    "pyperf": "jsonschema's benchmarks",
    "fastmcp": "langchain.mcp adapters (extra); graphton uses langchain-mcp-adapters",
    "langgraph_api": "langmem's LangGraph-server auth graph",
    "itsdangerous": "starlette's session middleware (extra), not used",
    "uvloop": "uvicorn's uvloop event loop (extra)",
    "zuvloop": "uvicorn's experimental loops",
    "zttp": "uvicorn's experimental HTTP protocols",
    "httptools": "uvicorn's httptools parser (extra)",
    "watchfiles": "uvicorn's reloader (extra)",
    "gunicorn": "uvicorn's gunicorn worker",
}
# Modules that fail for a reason other than a missing extra, each checked to fail the same
# way outside the image (a venv with the same lock), i.e. upstream packaging, not the image.
KNOWN_BROKEN = {
    "anthropic.lib.tools.mcp": ("mcp", "needs the `mcp` extra (raises ImportError naming it)"),
    "requests_toolbelt.adapters.appengine": ("gaecontrib", "Google App Engine only"),
    "truststore._macos": ("int()", "macOS only"),
    "truststore._windows": ("WinDLL", "Windows only"),
    "temporalio.api.cluster.v1": ("gogoproto", "upstream wheel lacks a generated proto module"),
    "temporalio.api.interaction.v1": ("interaction_type_pb2", "upstream wheel, same"),
    "temporalio.bridge.proto.bridge": ("'temporal'", "upstream wheel, same"),
    "google.protobuf.internal.json_format_benchmark": ("google.protobuf.json", "upstream, same"),
    "cffi._shimmed_dist_utils": ("setuptools", "cffi's distutils shim, for building only"),
    "click._winconsole": ("AssertionError", "Windows only"),
    "google.auth._oauth2client": ("oauth2client", "the legacy oauth2client bridge"),
    "google.auth.aio.transport.aiohttp": ("aiohttp", "aiohttp transport (extra)"),
    "langmem.graphs.prompts": ("state_schema", "langmem's LangGraph-server graphs, not used"),
    "langmem.graphs.semantic": ("OPENAI_API_KEY", "makes an OpenAI client when imported"),
    "mcp.cli": ("SystemExit", "mcp's command line needs its `cli` extra (typer)"),
    "openai.helpers": ("numpy", "openai's voice helpers (extra `voice_helpers`)"),
    "starlette.templating": ("jinja2", "starlette's templates (extra), not used"),
}
_MISSING = re.compile(r"^ModuleNotFoundError: No module named '([\w.]+)'")


def unexpected_failures(failures: Mapping[str, str]) -> dict[str, str]:
    unexpected = {}
    for module, error in failures.items():
        missing = _MISSING.match(error)
        if missing and any(
            missing.group(1) == name or missing.group(1).startswith(name + ".")
            for name in OPTIONAL_MISSING
        ):
            continue
        # A broken package's modules fail the same way (they import it first).
        parents = [".".join(module.split(".")[:n]) for n in range(module.count(".") + 1, 0, -1)]
        known = next((KNOWN_BROKEN[p] for p in parents if p in KNOWN_BROKEN), None)
        if known and known[0] in error:
            continue
        unexpected[module] = error
    return unexpected


def docker_python(
    ref: str, script: str, *args: str, platform: str | None = None, timeout: float = 300
) -> str:
    argv = ["docker", "run", "--rm", "--entrypoint", "python3"]
    argv += ["--platform", platform] if platform else []
    result = subprocess.run(
        [*argv, ref, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    return result.stdout


def inspect(ref: str) -> dict[str, Any]:
    result = subprocess.run(
        ["docker", "image", "inspect", ref], capture_output=True, text=True, check=True
    )
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data[0]


def test_pushed_index_holds_both_platforms_and_nothing_else(
    built_image: BuiltImage, docker_host: Host
) -> None:
    index = docker_host.docker.imagetools_inspect_raw(built_image.pushed_ref) or {}
    platforms = sorted(
        f"{entry['platform']['os']}/{entry['platform']['architecture']}"
        for entry in index["manifests"]
    )
    assert platforms == sorted(built_image.platforms)  # no unknown/unknown attestations


def test_starts_as_root_to_drop_to_the_workspace_owner_with_the_declared_runtime(
    built_image: BuiltImage,
) -> None:
    """No USER: the runner drops to the workspace's owner itself (agent_runner/privileges.py),
    so the image's workspace belongs to the contract's user, which a named volume inherits."""
    contract = read_contract(PROJECT_ROOT)
    config = inspect(built_image.local_ref)["Config"]
    assert config.get("User", "") in ("", "0", "root")
    assert config["Entrypoint"] == list(load_contract(PROJECT_ROOT).ENTRYPOINT)
    assert config["StopSignal"] == "SIGTERM"
    assert config["Healthcheck"]["Test"] == ["CMD", *contract.healthcheck_command]
    env = dict(item.split("=", 1) for item in config["Env"])
    # No contract variable is baked in (it would shadow the CLI's aliases); from the
    # image's working directory the contract's default sandbox root is the mount.
    assert "SANDBOX_ROOT_DIR" not in env
    assert config["WorkingDir"] == "/"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    default_root = str(contract.env_var("SANDBOX_ROOT_DIR").default)
    probe = (
        f"import os, json, pathlib; w = os.path.abspath({default_root!r});"
        f"assert w == {contract.workspace_mount!r}, w; st = os.stat(w);"
        "pathlib.Path(w, 'probe').write_text('x');"
        "print(json.dumps([os.getuid(), os.getgid(), st.st_uid, st.st_gid]))"
    )
    uid, gid, owner, group = json.loads(docker_python(built_image.local_ref, probe))
    assert (uid, gid) == (0, 0)  # the probe replaces the entrypoint, so nothing dropped
    assert (owner, group) == (contract.runtime_uid, contract.runtime_gid)


def test_labels_name_the_version_and_revision(built_image: BuiltImage) -> None:
    labels = inspect(built_image.local_ref)["Config"]["Labels"]
    prefix = "org.opencontainers.image."
    assert labels[prefix + "version"] == built_image.version
    assert labels[prefix + "revision"] == built_image.revision
    assert labels[prefix + "title"] == "agent-runner"
    assert labels[prefix + "licenses"] == "Apache-2.0"
    created = datetime.fromisoformat(labels[prefix + "created"])
    assert created.year >= 2024


def test_no_packaging_tools_compilers_or_caches(built_image: BuiltImage) -> None:
    probe = """
import glob, importlib.util, json, os, shutil
print(json.dumps({
    "modules": [m for m in ("pip", "setuptools", "wheel", "ensurepip")
                if importlib.util.find_spec(m) is not None],
    "programs": [p for p in ("pip", "pip3", "gcc", "cc", "c++", "g++", "clang", "make")
                 if shutil.which(p)],
    "leftovers": glob.glob("/var/lib/apt/lists/*") + glob.glob("/root/.cache/*")
                 + glob.glob("/var/cache/apt/*.bin"),
    "bytecode": os.path.isdir("/opt/agent-runner/app/agent_runner/__pycache__"),
}))
"""
    found = json.loads(docker_python(built_image.local_ref, probe))
    assert found == {"modules": [], "programs": [], "leftovers": [], "bytecode": True}


def test_every_module_imports_natively(built_image: BuiltImage) -> None:
    output = docker_python(built_image.local_ref, IMPORT_SCRIPT, "all", APP_DIR, SITE_DIR)
    result = json.loads(output.strip().splitlines()[-1])  # modules may print first
    assert result["count"] > 1000  # the walk really covered the dependencies
    assert unexpected_failures(result["failures"]) == {}


@pytest.mark.slow
def test_arm64_imports_every_distribution_and_extension_under_emulation(
    built_image: BuiltImage,
) -> None:
    # QEMU makes a full walk take tens of minutes (temporalio.worker alone ~1 min). Python
    # code is the same bytes on both architectures and is walked natively above; what can
    # differ is compiled code, so here: every extension module, every distribution's
    # top-level packages and agent-runner, in one container with a generous timeout.
    output = docker_python(
        built_image.pushed_ref,
        IMPORT_SCRIPT,
        "arch",
        APP_DIR,
        SITE_DIR,
        platform="linux/arm64",
        timeout=1200,
    )
    result = json.loads(output.strip().splitlines()[-1])  # modules may print first
    assert result["count"] > 50
    assert unexpected_failures(result["failures"]) == {}


# -- layer reuse -----------------------------------------------------------------------------

_STEP = re.compile(r"^#(\d+) \[(?:[\w/]+ )?(?P<stage>[\w>/-]+) \d+/\d+\] (?P<what>.*)$")


def step_outcomes(log: str) -> dict[str, str]:
    """`stage: instruction` -> "CACHED" or "DONE", from `--progress plain` output."""
    names: dict[str, str] = {}
    outcomes: dict[str, str] = {}
    for line in log.splitlines():
        if step := _STEP.match(line):
            names[step.group(1)] = f"{step.group('stage')}: {step.group('what')[:40]}"
        elif (done := re.match(r"^#(\d+) (CACHED|DONE)\b", line)) and done.group(1) in names:
            outcomes[names[done.group(1)]] = done.group(2)
    return outcomes


def test_a_code_only_change_reuses_the_dependency_layers(
    built_image: BuiltImage,
    build_config: ToolConfig,
    docker_host: Host,
    tmp_path: Path,
) -> None:
    # A copy of the build context with one source file changed (the shared tree is not ours
    # to edit); the wheelhouse and lock are byte-identical, so their layers must be reused.
    context = tmp_path / "context"
    for name in (
        "Dockerfile",
        ".dockerignore",
        "agent-runner/requirements.lock",
        "build_tools/image/elf_strip.py",
    ):
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, context / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PROJECT_ROOT / "build/wheelhouse", context / "build/wheelhouse")
    package = context / "agent-runner/src/agent_runner"
    shutil.copytree(PROJECT_ROOT / "agent-runner/src/agent_runner", package, ignore=ignore)
    init = package / "__init__.py"
    init.write_text(init.read_text("utf-8") + f"\n# code-only change {uuid.uuid4()}\n", "utf-8")

    source = gather_source_info(build_config, docker_host)
    options = BuildOptions(host_platform=built_image.host_platform)
    plan = make_build_plan(build_config, options, source, datetime.now().astimezone())
    tag = f"{TEST_IMAGE}:cache-{uuid.uuid4().hex[:10]}"
    log = io.StringIO()
    started = time.monotonic()
    docker_host.docker.buildx_build(
        BuildxRequest(
            context=context,
            dockerfile=context / "Dockerfile",
            platforms=plan.platforms,
            tags=(tag,),
            build_args=plan.build_args,
            load=True,
        ),
        log=log,
    )
    seconds = time.monotonic() - started
    subprocess.run(["docker", "image", "rm", tag], capture_output=True, check=False)
    outcomes = step_outcomes(log.getvalue())
    deps = [outcome for step, outcome in outcomes.items() if step.startswith("deps: RUN")]
    code = [outcome for step, outcome in outcomes.items() if step.startswith("code: COPY")]
    assert deps == ["CACHED"], outcomes
    assert code == ["DONE"], outcomes  # the change was seen, so the cache was not stale
    print(f"warm rebuild after a code-only change: {seconds:.1f} s")
