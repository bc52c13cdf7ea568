"""Cold-start phases, idle memory, report and gate, on saved real docker output.

Fixtures (tests/unit/data/startup), from one real run of the image against the Temporal
test image on this project's build host: `docker logs --timestamps` of the runner (banner,
then the ready line), `docker inspect --format '{{json .State}}'` and
`docker stats --no-stream --format '{{json .}}'` taken ~1 s after it became ready. The
runner's two lines were rewritten into its current line format (`<UTC ts> <LEVEL> <JSON>`,
the JSON without "ts"/"level"); docker's own timestamps in front of them are the run's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from build_tools.config import Budgets
from build_tools.docker import RealDocker
from build_tools.errors import BudgetExceededError, RuntimeContainerError
from build_tools.host import Parts
from build_tools.process import CommandResult
from build_tools.runtime.contract_loader import read_contract
from build_tools.testbed.cold_start import (
    POLL_INTERVAL_SECONDS,
    ColdStart,
    StartupResult,
    StartupTarget,
    build_report,
    cold_start_phases,
    floor_args,
    gate,
    measure_cold_start,
    measure_floor,
    report_and_gate,
    run_args,
    startup_target,
    wait_for_warm_up,
    warm_up_state,
)
from build_tools.testbed.docker_output import memory_bytes, parse_log_lines, parse_timestamp
from tests.unit.fakes import FakeHost

DATA = Path(__file__).parent / "data" / "startup"
LOGS = (DATA / "docker-logs-timestamps.txt").read_text(encoding="utf-8")
STATE = (DATA / "docker-inspect-state.json").read_text(encoding="utf-8")
STATS = (DATA / "docker-stats.json").read_text(encoding="utf-8")
STARTED_AT = "2026-11-29T14:03:36.828920338Z"
TARGET = StartupTarget(
    image="stigmer/agent-runner:dev",
    env=(("TEMPORAL_SERVICE_ADDRESS", "127.0.0.1:7233"),),
    queue_variable="TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE",
    user="1000:1000",
    labels=(("org.example.session", "s1"),),
)


def ok(stdout: str = "") -> CommandResult:
    return CommandResult(("docker",), 0, stdout, "")


@dataclass
class FakeClock:
    now: float

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_timestamps_keep_microseconds_and_accept_offsets() -> None:
    base = parse_timestamp("2026-11-29T14:03:36Z")
    assert parse_timestamp(STARTED_AT) - base == pytest.approx(0.828920, abs=1e-6)
    assert parse_timestamp("2026-11-29T15:03:36.5+01:00") - base == pytest.approx(0.5)
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_timestamp("yesterday")


def test_log_lines_of_a_real_run_are_timed_and_parsed() -> None:
    lines = parse_log_lines(LOGS + "\nnot a log line\n")
    assert len(lines) == 2
    (first, banner), (second, ready) = lines
    assert banner is not None
    assert banner["msg"] == "agent-runner starting"
    assert (banner["ts"], banner["level"]) == ("2026-11-29T14:03:37.190Z", "INFO")
    assert ready is not None
    assert ready["event"] == "ready"
    assert second - first == pytest.approx(1.698168, abs=1e-5)


def test_lines_not_in_the_runners_format_are_timed_but_carry_no_record() -> None:
    text = (
        "2026-11-29T14:03:37.000000000Z Traceback (most recent call last):\n"
        '2026-11-29T14:03:37.100000000Z {"msg":"bare JSON is not the format"}\n'
        '2026-11-29T14:03:37.200000000Z 2026-11-29T14:03:37.199Z INFO {"msg":"ok"}\n'
    )
    assert [record for _, record in parse_log_lines(text)] == [
        None,
        None,
        {"ts": "2026-11-29T14:03:37.199Z", "level": "INFO", "msg": "ok"},
    ]


def test_the_runners_temporal_connected_line_is_its_own_phase() -> None:
    t0 = parse_timestamp("2026-11-29T14:03:36.600Z")
    connected = (
        "2026-11-29T14:03:37.500000000Z 2026-11-29T14:03:37.499Z INFO "
        '{"logger":"agent_runner.worker","msg":"temporal connected","address":"127.0.0.1:7233"}'
    )
    lines = parse_log_lines(LOGS + connected + "\n")
    phases = cold_start_phases(
        t0, parse_timestamp(STARTED_AT), lines, t0 + 2.3, ready_event="ready", memory=None
    )
    assert phases.connected == pytest.approx(0.9, abs=1e-4)


def test_memory_of_real_docker_stats_and_units() -> None:
    assert memory_bytes(json.loads(STATS)) == int(99.56 * 2**20)
    assert memory_bytes({"MemUsage": "512kB / 1GB"}) == 512_000
    with pytest.raises(RuntimeContainerError, match="docker stats said"):
        memory_bytes({"MemUsage": "-- / --"})


def test_phases_are_seconds_after_docker_run() -> None:
    t0 = parse_timestamp("2026-11-29T14:03:36.600Z")
    lines = parse_log_lines(LOGS)
    phases = cold_start_phases(
        t0, parse_timestamp(STARTED_AT), lines, t0 + 2.3, ready_event="ready", memory=99_000_000
    )
    assert phases.started == pytest.approx(0.2289, abs=1e-4)
    assert phases.first_log == pytest.approx(0.5908, abs=1e-4)
    assert phases.connected is None  # this capture has no "temporal connected" line
    assert phases.ready_line == pytest.approx(2.2889, abs=1e-4)
    assert phases.poller_visible == pytest.approx(2.3)
    assert phases.idle_memory_mb == 99.0


def test_a_connected_log_line_becomes_its_own_phase() -> None:
    lines = [(10.5, {"msg": "Temporal connected", "address": "x"}), (10.1, None)]
    phases = cold_start_phases(10.0, 10.05, sorted(lines), 11.0, ready_event="ready", memory=None)
    assert phases.connected == 0.5
    assert phases.first_log == pytest.approx(0.1)
    assert phases.idle_memory_mb is None


def test_run_and_floor_use_the_same_image_user_network_and_labels() -> None:
    run = run_args(TARGET, "n1", "q1")
    floor = floor_args(TARGET, "n2")
    assert run[0] == "--detach"
    assert run[-1] == TARGET.image
    assert "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE=q1" in run
    for argv in (run, floor):
        assert argv[argv.index("--user") + 1] == "1000:1000"
        assert argv[argv.index("--network") + 1] == "host"
        assert argv[argv.index("--label") + 1] == "org.example.session=s1"
    assert floor[-3:] == [TARGET.image, "-c", "pass"]
    assert floor[floor.index("--entrypoint") + 1] == "python3"
    assert "--detach" not in floor


def _scripted_host(state: str = STATE) -> tuple[Parts, FakeHost]:
    """The real docker part over a scripted docker CLI (answers captured on a real engine),
    so the measurement's command lines and docker's parsing are the real ones."""
    inspect = json.dumps([{"Id": "c0ffee", "State": json.loads(state)}])
    world = FakeHost(
        commands={
            "docker run --detach": ok("c0ffee\n"),
            "docker container inspect": ok(inspect),
            "docker stats": ok(STATS),
            "docker logs --timestamps": ok(LOGS),
            "docker logs": ok(""),
            "docker container stop --time 10": ok("c0ffee\n"),
            "docker container rm --force": ok(),
            "docker run --name": ok(),
        }
    )
    host = Parts(world.process, RealDocker(world.process), world.registry, world.git)
    return host, world


def test_one_cold_start_on_a_scripted_host() -> None:
    host, world = _scripted_host()
    fake = FakeClock(parse_timestamp("2026-11-29T14:03:36.600Z"))
    answers = iter([[], [], [], ["agent-runner-1@vm"]])

    cold = measure_cold_start(
        host,
        TARGET,
        lambda queue: next(answers),
        ready_event="ready",
        settle_seconds=1.0,
        clock=fake.clock,
        sleep=fake.sleep,
    )

    # Three polls came back empty; the fourth, one interval later, saw the poller.
    assert cold.poller_visible == pytest.approx(3 * POLL_INTERVAL_SECONDS)
    assert cold.idle_memory_mb == pytest.approx(104.4, abs=0.1)
    assert cold.started == pytest.approx(0.2289, abs=1e-4)
    assert (cold.stop_seconds, cold.stop_exit_code) == (0.0, 0)  # the fake clock did not move
    commands = [" ".join(argv[:4]) for kind, argv in world.calls if kind == "run"]
    assert commands[0].startswith("docker run --detach")
    assert commands[-1] == "docker container rm --force"  # always removed


def test_a_runner_that_exits_fails_the_measurement_and_is_removed() -> None:
    exited = json.dumps({"Running": False, "ExitCode": 78, "StartedAt": STARTED_AT})
    host, world = _scripted_host(exited)
    fake = FakeClock(0.0)
    with pytest.raises(RuntimeContainerError, match="exited with 78"):
        measure_cold_start(
            host, TARGET, lambda q: [], ready_event="ready", clock=fake.clock, sleep=fake.sleep
        )
    assert world.calls[-1][1][:4] == ("docker", "container", "rm", "--force")


def test_the_floor_is_the_time_docker_run_takes() -> None:
    host, world = _scripted_host()
    ticks = iter([100.0, 100.25])
    assert measure_floor(host, TARGET, clock=lambda: next(ticks)) == 0.25
    assert world.calls[-1][1][:4] == ("docker", "container", "rm", "--force")


def _result(cold: float, memory: float, stop_code: int = 0) -> StartupResult:
    run = ColdStart(0.2, 0.5, None, cold, cold, memory, 0.3, 0)
    slow = ColdStart(0.2, 0.5, None, cold * 3, cold * 3, memory + 10, 0.5, stop_code)
    return StartupResult("linux/amd64", (run, run, slow), (0.25, 0.3, 0.2))


def test_report_gates_the_medians_and_reports_ratio_phases_and_goals() -> None:
    report = build_report(_result(1.5, 60.0), Budgets(cold_start_seconds=2.0, idle_memory_mb=80))
    rows = {row.metric: row for row in report.rows}
    assert rows["cold start (median)"].value == 1.5
    assert rows["cold start (median)"].status == "pass"
    assert rows["cold start (max)"].value == 4.5
    assert rows["cold start / floor"].value == 6.0
    assert rows["idle memory (median)"].status == "pass"
    assert rows["docker stop (max)"].value == 0.5
    assert "phase: temporal connected (median)" not in rows
    assert any("no 'temporal connected' line" in note for note in report.notes)
    gate(report)  # within budget: no error


def test_over_budget_fails_with_the_budget_exit_code(tmp_path: Path) -> None:
    budgets = Budgets(cold_start_seconds=1.0, idle_memory_mb=50)
    with pytest.raises(BudgetExceededError) as caught:
        report_and_gate(_result(1.5, 60.0), budgets, tmp_path, {})
    assert caught.value.exit_code == 7
    assert "cold start (median) 1.5 s > 1" in str(caught.value)
    assert "idle memory (median) 60 MB > 50" in str(caught.value)
    saved = json.loads((tmp_path / "startup.json").read_text(encoding="utf-8"))
    assert saved["passed"] is False  # the report is written before the gate fails
    assert (tmp_path / "startup.md").read_text(encoding="utf-8").count("❌ fail") == 2


def test_a_stop_that_needed_sigkill_is_noted() -> None:
    report = build_report(_result(1.0, 50.0, stop_code=137), Budgets())
    assert any("docker stop exit codes [0, 137]" in note for note in report.notes)


def test_the_cli_refuses_zero_runs_before_touching_docker(tmp_path: Path) -> None:
    from build_tools.cli import run

    host = FakeHost()
    code = run(["startup", "--image", "img:1", "--runs", "0"], {}, lambda _env: host, tmp_path)
    assert code == 2
    assert host.calls == []


def test_startup_target_runs_on_the_host_network_with_a_label() -> None:
    contract = read_contract(Path(__file__).resolve().parents[2])
    target = startup_target(contract, "img:1", "127.0.0.1:7233", session="s1")
    env = dict(target.env)
    assert env[contract.env_var("TEMPORAL_SERVICE_ADDRESS").name] == "127.0.0.1:7233"
    # The supervisor's queue alias; every run gets its own queue.
    assert (
        target.queue_variable
        in contract.env_var("TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE").aliases
    )
    assert target.queue_variable not in env
    assert target.network == "host"
    assert target.user is None  # as upstream: no --user
    assert env["STIGMER_BACKEND_ENDPOINT"] == "localhost:7234"
    assert env["WORKSPACE_ROOT"] == contract.workspace_mount
    assert dict(target.labels) == {"org.stigmer.agent-runner.smoke-session": "s1"}


def _banner(warmup: str | None) -> dict[str, object]:
    config = {} if warmup is None else {"AGENT_RUNNER_WARMUP": warmup}
    return {"msg": "agent-runner starting", "config": config}


@pytest.mark.parametrize(
    ("records", "open_", "seconds"),
    [
        ([_banner("1"), None, {"event": "ready"}], True, None),
        ([_banner("1"), {"msg": "warm-up started"}], True, None),
        (
            [_banner("1"), {"msg": "warm-up started"}, {"msg": "warm-up finished", "seconds": 2.4}],
            False,
            2.4,
        ),
        (
            [_banner("1"), {"msg": "warm-up failed; the first execution loads the agent"}],
            False,
            None,
        ),
        ([_banner("0"), {"event": "ready"}], False, None),
        ([_banner(None), {"event": "ready"}], False, None),  # an image from before the warm-up
        ([None, {"event": "ready"}], False, None),
    ],
)
def test_idle_memory_waits_for_a_warm_up_the_banner_announces(
    records: list[dict[str, object] | None], open_: bool, seconds: float | None
) -> None:
    state = warm_up_state(records)
    assert state.open is open_
    assert state.seconds == seconds


def test_waiting_for_the_warm_up_reads_the_log_until_it_ends_or_time_runs_out() -> None:
    started: list[dict[str, object] | None] = [_banner("1"), {"msg": "warm-up started"}]
    finished = [*started, {"msg": "warm-up finished", "seconds": 2.4}]
    logs = iter([started, started, finished])
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    state = wait_for_warm_up(lambda: next(logs), 60.0, clock=lambda: now[0], sleep=sleep)
    assert (state.open, state.seconds) == (False, 2.4)
    assert now[0] == pytest.approx(0.4)  # two polls of 0.2 s
    late = wait_for_warm_up(lambda: started, 1.0, clock=lambda: now[0], sleep=sleep)
    assert (late.open, late.seconds) == (True, None)
