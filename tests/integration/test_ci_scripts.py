"""The .ci/ shell scripts: their steps run for real in bash, with stub apt and dpkg on PATH.

No Docker is needed; these live here because unit tests start no processes. The stubs
answer the way Debian's tools do (dpkg-query's `${db:Status-Status} ${Version}` format,
apt-get's closing count line), so the script's own parsing is what is under test.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / ".ci"
PROVISION = CI / "provision-docker-host"

# Key package versions on a Debian 12 host, and what apt's trixie install leaves (measured on
# a fresh bookworm host: libc6 2.36 -> 2.41, apt 2.6 -> 3.0, python3 3.11 -> 3.13, libssl3
# replaced by libssl3t64, openssh-client 9.2 -> 10.0).
BOOKWORM = {
    "libc6": "2.36-9+deb12u13",
    "apt": "2.6.1",
    "dpkg": "1.21.22",
    "python3": "3.11.2-1+b1",
    "openssl": "3.0.17-1~deb12u2",
    "libssl3": "3.0.17-1~deb12u2",
    "openssh-client": "1:9.2p1-2+deb12u7",
}
TRIXIE = {
    "libc6": "2.41-12",
    "apt": "3.0.3",
    "dpkg": "1.22.21",
    "python3": "3.13.5-1",
    "openssl": "3.5.1-1",
    "libssl3t64": "3.5.1-1",
    "openssh-client": "1:10.0p1-7",
}


def _stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _dpkg_db(versions: dict[str, str]) -> str:
    return "".join(f"{name} {version}\n" for name, version in versions.items())


@pytest.fixture
def apt_stubs(tmp_path: Path) -> Path:
    """apt-get and dpkg-query stubs: `apt-get install` swaps the dpkg database to trixie's."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "dpkg-db").write_text(_dpkg_db(BOOKWORM))
    (tmp_path / "dpkg-db.after-install").write_text(_dpkg_db(TRIXIE))
    _stub(
        bin_dir,
        "apt-get",
        f"""echo "apt-get $*" >>'{tmp_path}/apt-calls'
case " $* " in
  *" install "*)
    cp '{tmp_path}/dpkg-db.after-install' '{tmp_path}/dpkg-db'
    echo "105 upgraded, 60 newly installed, 19 to remove and 0 not upgraded." ;;
esac
""",
    )
    # dpkg-query -W -f=FORMAT PKG: installed packages print the format; unknown ones fail
    # with exit 1 as the real tool does ("no packages found matching").
    _stub(
        bin_dir,
        "dpkg-query",
        f"""pkg=${{!#}}
version=$(awk -v p="$pkg" '$1 == p {{ print $2 }}' '{tmp_path}/dpkg-db')
if [ -z "$version" ]; then echo "dpkg-query: no packages found matching $pkg" >&2; exit 1; fi
case $* in
  *db:Status-Status*) echo "installed $version" ;;
  *) echo "$version" ;;
esac
""",
    )
    return bin_dir


def _bash(script: str, *, path_prefix: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}:{env['PATH']}"
    return subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def test_the_package_step_goes_on_when_the_release_upgrade_changes_key_packages(
    tmp_path: Path, apt_stubs: Path
) -> None:
    # The path a fresh Debian 12 host takes: the engine from trixie upgrades libc6, apt and
    # python3. The step used to `diff` the versions under pipefail and die without a word.
    result = _bash(
        f"""source '{PROVISION}'
TRIXIE_SOURCES='{tmp_path}/trixie.sources' TRIXIE_PIN='{tmp_path}/trixie-low'
APT_LOG='{tmp_path}/apt.log' ENGINE_PATH=trixie CODENAME=bookworm MIRROR=file:///srv/mirror
missing_extras=(qemu-user-static)
step "installing packages" "read $APT_LOG"
install_packages
echo "the step finished"
""",
        path_prefix=apt_stubs,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "the step finished"
    assert (
        "key packages changed: libc6 2.36-9+deb12u13 -> 2.41-12, apt 2.6.1 -> 3.0.3, "
        "dpkg 1.21.22 -> 1.22.21, python3 3.11.2-1+b1 -> 3.13.5-1, "
        "openssl 3.0.17-1~deb12u2 -> 3.5.1-1, libssl3 3.0.17-1~deb12u2 -> absent, "
        "libssl3t64 absent -> 3.5.1-1, openssh-client 1:9.2p1-2+deb12u7 -> 1:10.0p1-7"
    ) in result.stderr
    assert "apt: 105 upgraded, 60 newly installed, 19 to remove" in result.stderr
    calls = (tmp_path / "apt-calls").read_text().splitlines()
    assert calls == [
        "apt-get update -qq",
        "apt-get install -y -q -t trixie docker.io docker-buildx docker-cli docker-compose",
        "apt-get install -y -q qemu-user-static binfmt-support docker-registry debootstrap "
        "mmdebstrap",
    ]
    assert "Suites: trixie" in (tmp_path / "trixie.sources").read_text()
    assert "Pin-Priority: 100" in (tmp_path / "trixie-low").read_text()


def test_the_package_step_says_nothing_changed_when_versions_stay(
    tmp_path: Path, apt_stubs: Path
) -> None:
    (tmp_path / "dpkg-db.after-install").write_text(_dpkg_db(BOOKWORM))
    result = _bash(
        f"""source '{PROVISION}'
APT_LOG='{tmp_path}/apt.log' ENGINE_PATH=native CODENAME=trixie MIRROR=file:///srv/mirror
missing_extras=()
install_packages
echo "the step finished"
""",
        path_prefix=apt_stubs,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "the step finished"
    assert "key packages changed" not in result.stderr


def test_a_failed_apt_install_names_the_step_and_the_log(tmp_path: Path, apt_stubs: Path) -> None:
    _stub(apt_stubs, "apt-get", 'echo "E: Unable to locate package docker-buildx"; exit 100\n')
    result = _bash(
        f"""source '{PROVISION}'
APT_LOG='{tmp_path}/apt.log' ENGINE_PATH=native CODENAME=trixie MIRROR=file:///srv/mirror
missing_extras=()
apt-get() {{ if [ "$1" = update ]; then return 0; fi; command apt-get "$@"; }}
install_packages
""",
        path_prefix=apt_stubs,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "provision-docker-host failed because installing docker.io docker-buildx docker-cli "
        "docker-compose from trixie failed: E: Unable to locate package docker-buildx. "
        f"Do read {tmp_path}/apt.log."
    )


@pytest.mark.parametrize(
    ("failing", "command", "code"),
    [
        ("false", "false", 1),
        ("value=$(exit 3)", "value=$(exit 3)", 3),  # reported once, by the main shell
        ("in_a_function", "return 4", 4),
    ],
)
def test_an_unexpected_failure_prints_one_line_with_the_step(
    failing: str, command: str, code: int
) -> None:
    result = _bash(
        f"""CI_SCRIPT=setup-host
source '{CI / "lib" / "steps.sh"}'
in_a_function() {{ echo working; return 4; }}
step "seeding the base image" "read the nox output above"
{failing}
echo "not reached"
"""
    )
    assert result.returncode == code
    assert "not reached" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.fullmatch(
        rf"setup-host failed at seeding the base image \(line \d+\): {re.escape(command)} "
        rf"exited {code}\. Do read the nox output above\.",
        lines[0],
    ), lines[0]


def test_answers_in_conditions_do_not_end_a_script() -> None:
    result = _bash(
        f"""source '{CI / "lib" / "steps.sh"}'
if ! diff <(echo a) <(echo b) >/dev/null; then echo differ; fi
grep -q x <<<"y" || echo "no x"
found=$(grep -c x <<<"y" || true)
echo "count $found"
"""
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["differ", "no x", "count 0"]


@pytest.mark.parametrize(
    "script", ["run", "setup-host", "provision-docker-host", "install-browser"]
)
def test_every_ci_script_reports_its_failures(script: str) -> None:
    text = (CI / script).read_text()
    assert re.search(r'^source "?[^\n]*lib/steps\.sh"?$', text, re.MULTILINE), script
    assert re.search(r"^CI_SCRIPT=", text, re.MULTILINE), script


def _client_note(tmp_path: Path, client: str, versions: str) -> subprocess.CompletedProcess[str]:
    engine_client = tmp_path / "usr-bin-docker"
    _stub(tmp_path, engine_client.name, "exit 0\n")
    return _bash(
        f"""source '{PROVISION}'
ENGINE_CLIENT='{engine_client}'
client_note '{client}' '{versions}'
"""
    )


def test_a_newer_client_first_on_path_is_used_and_named(tmp_path: Path) -> None:
    # Seen on these hosts: /usr/local/bin/docker 28.2.2 ahead of trixie's 26.1.5 engine;
    # `docker version` reports the API version it negotiated (1.45), not its own maximum.
    result = _client_note(tmp_path, "/usr/local/bin/docker", "28.2.2 1.45 26.1.5+dfsg1 1.24")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "/usr/local/bin/docker 28.2.2, first on PATH and used (newer than engine 26.1.5+dfsg1, "
        f"speaking its API 1.45; the engine's own client is {tmp_path}/usr-bin-docker)"
    )


def test_the_engines_own_client_is_named_plainly(tmp_path: Path) -> None:
    result = _bash(
        f"""source '{PROVISION}'
ENGINE_CLIENT=/usr/bin/docker
client_note /usr/bin/docker '26.1.5+dfsg1 1.45 26.1.5+dfsg1 1.24'
"""
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "/usr/bin/docker 26.1.5+dfsg1 (API 1.45)"


def test_a_client_older_than_the_engine_accepts_is_refused(tmp_path: Path) -> None:
    result = _client_note(tmp_path, "/opt/old/docker", "1.11.2 1.23 26.1.5+dfsg1 1.24")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "provision-docker-host failed because the docker client /opt/old/docker (1.11.2, "
        "API 1.23) is older than the engine accepts (API >= 1.24). Do put "
        f"{tmp_path}/usr-bin-docker first on PATH or remove /opt/old/docker."
    )


def test_sourcing_the_provisioning_script_changes_nothing(tmp_path: Path) -> None:
    result = _bash(f"source '{PROVISION}'; echo sourced; declare -F main >/dev/null")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sourced"
    assert result.stderr == ""


# -- install-browser -------------------------------------------------------------------------


@pytest.fixture
def browser_apt(tmp_path: Path) -> Path:
    """An apt-get stub that records its calls; `install` creates the browser, as chromium does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    browser = tmp_path / "chromium"
    _stub(
        bin_dir,
        "apt-get",
        f"""echo "apt-get $*" >>'{tmp_path}/apt-calls'
case " $* " in
  *" -s install "*) printf 'Inst chromium-common (1)\\nInst chromium (1)\\n' ;;
  *" install "*)
    printf '#!/bin/sh\\necho Chromium 1.0\\n' >'{browser}'; chmod +x '{browser}'
    echo "2 upgraded, 0 newly installed, 0 to remove and 0 not upgraded." ;;
esac
""",
    )
    return tmp_path


def _install_browser(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _bash(
        f"AGENT_RUNNER_BROWSER='{tmp_path}/chromium' "
        f"AGENT_RUNNER_BROWSER_APT_LOG='{tmp_path}/apt.log' "
        f"bash '{CI / 'install-browser'}' {' '.join(args)}",
        path_prefix=tmp_path / "bin",
    )


def _apt_calls(tmp_path: Path) -> list[str]:
    calls = tmp_path / "apt-calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_install_browser_plan_says_what_it_would_install_and_changes_nothing(
    browser_apt: Path,
) -> None:
    result = _install_browser(browser_apt, "--plan")
    assert result.returncode == 0, result.stderr
    assert "would run 'apt-get update' and 'apt-get install -y chromium'" in result.stderr
    assert "apt would install chromium-common chromium" in result.stderr
    assert _apt_calls(browser_apt) == ["apt-get -s install chromium"]
    assert not (browser_apt / "chromium").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="installing needs root, as on CI")
def test_install_browser_installs_once_then_changes_nothing(browser_apt: Path) -> None:
    first = _install_browser(browser_apt)
    assert first.returncode == 0, first.stderr
    assert _apt_calls(browser_apt) == ["apt-get update -qq", "apt-get install -y -q chromium"]
    assert "installed chromium; apt: 2 upgraded," in first.stderr
    second = _install_browser(browser_apt)
    assert second.returncode == 0, second.stderr
    assert "is installed (Chromium 1.0): nothing to change" in second.stderr
    assert len(_apt_calls(browser_apt)) == 2  # no apt call the second time


def test_install_browser_refuses_an_unknown_option(browser_apt: Path) -> None:
    result = _install_browser(browser_apt, "--force")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "install-browser failed because the option '--force' is unknown. Do pass --plan or nothing."
    )
