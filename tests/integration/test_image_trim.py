"""What the image leaves out (Dockerfile, deps stage): debug symbols, zstandard's CFFI
backend and, by default (`--sources no`), the dependencies' .py sources. Checked in the
built image of conftest's `built_image`, for every pushed platform where it is compiled code.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from build_tools.image import elf_strip
from tests.integration.conftest import BuiltImage
from tests.integration.test_image import APP_DIR, SITE_DIR, docker_python, inspect

# Runs inside the image with the stripper module mounted at /probe: every regular shared
# object under site-packages and the sections it still has that stripping drops.
SECTIONS_SCRIPT = r"""
import json, sys
from pathlib import Path
sys.path.insert(0, "/probe")
import elf_strip
found = {}
for path in elf_strip.shared_objects([Path(sys.argv[1])]):
    names = elf_strip.section_names(path.read_bytes())
    found[str(path)] = [n for n in names if n.startswith(".debug") or n in (".symtab", ".strtab")]
print(json.dumps(found))
"""


def sections_left(ref: str, platform: str) -> dict[str, list[str]]:
    module = Path(elf_strip.__file__).resolve()
    argv = ["docker", "run", "--rm", "--platform", platform, "--entrypoint", "python3"]
    argv += ["-v", f"{module}:/probe/elf_strip.py:ro", ref, "-c", SECTIONS_SCRIPT, SITE_DIR]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found: dict[str, list[str]] = json.loads(done.stdout)
    return found


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64"])
def test_no_shared_object_keeps_debug_sections_or_static_symbols(
    built_image: BuiltImage, platform: str
) -> None:
    found = sections_left(built_image.pushed_ref, platform)
    assert len(found) >= 10  # the walk saw the native extensions (temporalio, grpc, ...)
    assert any("temporal_sdk_bridge" in path for path in found)
    assert {path: names for path, names in found.items() if names} == {}


ZSTANDARD_SCRIPT = r"""
import json, os, sys
from pathlib import Path
import zstandard
readers = {}
for root in sys.argv[1:]:
    for path in sorted(Path(root).rglob("*.py*")):
        if path.suffix in (".py", ".pyc"):
            data = path.read_bytes()  # a .pyc keeps its string constants as they are
            for needle in ("PYTHON_ZSTANDARD_IMPORT_POLICY", "backend_cffi"):
                if needle.encode() in data:
                    readers.setdefault(needle, []).append(str(path.relative_to(root)))
print(json.dumps({
    "backend": zstandard.backend,
    "files": sorted(p.name for p in Path(zstandard.__file__).parent.iterdir()),
    "readers": readers,
}))
"""


def test_zstandard_uses_its_c_backend_and_nothing_else_asks_for_cffi(
    built_image: BuiltImage,
) -> None:
    found = json.loads(docker_python(built_image.local_ref, ZSTANDARD_SCRIPT, SITE_DIR, APP_DIR))
    assert found["backend"] == "cext"
    assert not [name for name in found["files"] if "cffi" in name]
    assert any(name.startswith("backend_c.") for name in found["files"])
    # Only zstandard's own __init__ reads the policy or names the CFFI backend, so removing
    # that backend cannot break an import elsewhere; and the image does not set the policy.
    assert {needle: sorted(set(paths)) for needle, paths in found["readers"].items()} == {
        "PYTHON_ZSTANDARD_IMPORT_POLICY": ["zstandard/__init__.pyc"],
        "backend_cffi": ["zstandard/__init__.pyc"],
    }
    env = dict(item.split("=", 1) for item in inspect(built_image.local_ref)["Config"]["Env"])
    assert "PYTHON_ZSTANDARD_IMPORT_POLICY" not in env


SOURCES_SCRIPT = r"""
import json, sys
from pathlib import Path
site, app = Path(sys.argv[1]), Path(sys.argv[2])
print(json.dumps({
    "site_py": len(list(site.rglob("*.py"))),
    "site_pyc": len(list(site.rglob("*.pyc"))),
    "site_pycache": len([d for d in site.rglob("__pycache__") if d.is_dir()]),
    "app_py": len(list(app.rglob("*.py"))),
    "app_pyc": len(list(app.rglob("__pycache__/*.pyc"))),
}))
"""


def test_by_default_dependencies_ship_sourceless_bytecode_and_agent_runner_its_sources(
    built_image: BuiltImage,
) -> None:
    found = json.loads(docker_python(built_image.local_ref, SOURCES_SCRIPT, SITE_DIR, APP_DIR))
    assert found["site_py"] == 0
    assert found["site_pycache"] == 0  # legacy `module.pyc` next to where module.py was
    assert found["site_pyc"] > 1000
    assert found["app_py"] > 10
    assert found["app_pyc"] >= found["app_py"]


def test_an_agent_runner_traceback_still_shows_the_failing_line(built_image: BuiltImage) -> None:
    # A traceback's line text comes from linecache, which reads the module's source file.
    probe = (
        "import linecache, agent_runner.healthcheck as h; print(linecache.getline(h.__file__, 1))"
    )
    assert docker_python(built_image.local_ref, probe).strip()
