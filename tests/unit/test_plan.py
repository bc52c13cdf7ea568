from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from build_tools.config import ToolConfig
from build_tools.errors import ConfigError
from build_tools.image.plan import (
    BuildOptions,
    SourceInfo,
    created_timestamp,
    epoch_seconds,
    make_build_plan,
)
from build_tools.runtime.contract_loader import read_contract

ROOT = Path("/src/project")
DIGEST = "sha256:" + "a" * 64
CONFIG = ToolConfig(
    project_root=ROOT,
    image="stigmer/agent-runner",
    registry="registry.example.test",
    base_image=f"python:3.13-slim@{DIGEST}",
    offline_base_image="127.0.0.1:5000/agent-runner-base/python:3.13-trixie",
    local_registry="127.0.0.1:5000",
)
SOURCE = SourceInfo(
    revision="0123456789abcdef0123456789abcdef01234567",
    project_version="0.4.2",
    source_url="https://git.example.test/stigmer/agent-runner",
    runtime=read_contract(Path(__file__).resolve().parents[2]),  # 10001:10001, /workspace
)
NOW = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)
HOST = BuildOptions(host_platform="linux/arm64")


def test_default_is_the_host_platform_loaded_as_dev() -> None:
    plan = make_build_plan(CONFIG, HOST, SOURCE, NOW)
    assert plan.platforms == ("linux/arm64",)
    assert plan.load
    assert not plan.push
    assert plan.registry is None
    assert plan.tags == ("stigmer/agent-runner:dev",)
    assert plan.base_image == CONFIG.base_image
    assert plan.base_digest == DIGEST
    assert plan.context == ROOT
    assert plan.dockerfile == ROOT / "Dockerfile"
    request = plan.request(metadata_file=ROOT / "m.json")
    assert request.load
    assert not request.push
    assert request.platforms == ("linux/arm64",)
    assert not request.provenance
    assert not request.sbom
    assert request.metadata_file == ROOT / "m.json"


def test_labels_and_build_args_come_from_the_source_and_its_date() -> None:
    plan = make_build_plan(CONFIG, HOST, SOURCE, NOW)
    labels = plan.labels
    assert labels["org.opencontainers.image.version"] == "0.4.2"
    assert labels["org.opencontainers.image.revision"] == SOURCE.revision
    assert labels["org.opencontainers.image.created"] == "2026-03-04T05:06:07Z"
    assert labels["org.opencontainers.image.source"] == SOURCE.source_url
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.title"] == "agent-runner"
    assert plan.build_args == {
        "BASE_IMAGE": CONFIG.base_image,
        "VERSION": "0.4.2",
        "REVISION": SOURCE.revision,
        "CREATED": "2026-03-04T05:06:07Z",
        "SOURCE_DATE_EPOCH": "1772600767",  # the same second, for BuildKit and the Dockerfile
        "SOURCE": SOURCE.source_url,
        "RUNTIME_UID": "10001",
        "RUNTIME_GID": "10001",
        "WORKSPACE": "/workspace",
    }
    assert plan.request().build_args == plan.build_args


def test_offline_mode_uses_the_local_base_and_pushes_to_the_local_registry() -> None:
    offline = replace(CONFIG, offline=True)
    plan = make_build_plan(offline, replace(HOST, push=True), SOURCE, NOW)
    assert plan.base_image == offline.offline_base_image
    assert plan.build_args["BASE_IMAGE"] == offline.offline_base_image
    assert plan.base_digest is None  # a tag, not pinned
    assert plan.registry == "127.0.0.1:5000"
    assert plan.tags == ("127.0.0.1:5000/stigmer/agent-runner:dev",)


def test_push_builds_every_configured_platform_for_the_registry() -> None:
    plan = make_build_plan(CONFIG, replace(HOST, push=True), SOURCE, NOW)
    assert plan.platforms == ("linux/amd64", "linux/arm64")
    assert plan.push
    assert not plan.load
    assert plan.registry == "registry.example.test"
    assert plan.tags == ("registry.example.test/stigmer/agent-runner:dev",)


def test_explicit_registry_and_platform_win() -> None:
    options = replace(HOST, push=True, registry="127.0.0.1:5000", platforms=("linux/amd64",))
    plan = make_build_plan(CONFIG, options, SOURCE, NOW)
    assert plan.platforms == ("linux/amd64",)
    assert plan.tags == ("127.0.0.1:5000/stigmer/agent-runner:dev",)


def test_loading_several_platforms_is_refused_with_the_fix() -> None:
    options = replace(HOST, platforms=("linux/amd64", "linux/arm64"))
    with pytest.raises(ConfigError, match=r"loads one platform at a time\. Add --push") as caught:
        make_build_plan(CONFIG, options, SOURCE, NOW)
    assert caught.value.exit_code == 2


def test_version_tags_and_labels_and_extra_tags_are_added_once() -> None:
    options = replace(
        HOST,
        version="1.2.3",
        extra_tags=("latest", "1.2.3", "other.test/mirror/agent-runner:1.2.3"),
    )
    plan = make_build_plan(CONFIG, options, SOURCE, NOW)
    assert plan.tags == (
        "stigmer/agent-runner:1.2.3",
        "stigmer/agent-runner:latest",
        "other.test/mirror/agent-runner:1.2.3",
    )
    assert plan.primary_ref == "stigmer/agent-runner:1.2.3"
    assert plan.labels["org.opencontainers.image.version"] == "1.2.3"


def test_an_invalid_tag_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a valid image tag"):
        make_build_plan(CONFIG, replace(HOST, extra_tags=("-bad",)), SOURCE, NOW)


@pytest.mark.parametrize(("bytecode", "value"), [(True, "1"), (False, "0"), (None, None)])
def test_bytecode_choice_becomes_a_build_arg_only_when_given(
    bytecode: bool | None, value: str | None
) -> None:
    plan = make_build_plan(CONFIG, replace(HOST, bytecode=bytecode), SOURCE, NOW)
    assert plan.build_args.get("COMPILE_BYTECODE") == value


@pytest.mark.parametrize(("sources", "value"), [(True, "1"), (False, "0"), (None, None)])
def test_sources_choice_becomes_a_build_arg_only_when_given(
    sources: bool | None, value: str | None
) -> None:
    plan = make_build_plan(CONFIG, replace(HOST, sources=sources), SOURCE, NOW)
    assert plan.build_args.get("DEPENDENCY_SOURCES") == value


def test_without_bytecode_the_sources_stay_and_cannot_be_dropped() -> None:
    plan = make_build_plan(CONFIG, replace(HOST, bytecode=False), SOURCE, NOW)
    assert plan.build_args["DEPENDENCY_SOURCES"] == "1"
    with pytest.raises(ConfigError, match="nothing would be left to import"):
        make_build_plan(CONFIG, replace(HOST, bytecode=False, sources=False), SOURCE, NOW)


def test_builder_and_no_cache_pass_through() -> None:
    plan = make_build_plan(
        replace(CONFIG, builder="remote"), replace(HOST, no_cache=True), SOURCE, NOW
    )
    request = plan.request()
    assert (request.builder, request.no_cache) == ("remote", True)


def test_base_image_is_always_asked_of_the_registry() -> None:
    # A stale local copy of a moved base tag must not win over the registry's.
    assert make_build_plan(CONFIG, HOST, SOURCE, NOW).request().pull is True


def test_source_date_epoch_is_whole_utc_seconds_never_negative() -> None:
    east = timezone(timedelta(hours=2))
    assert epoch_seconds(datetime(2023, 11, 15, 0, 13, 20, 999, tzinfo=east)) == 1700000000
    assert epoch_seconds(datetime(1960, 1, 1, tzinfo=UTC)) == 0


def test_created_is_utc_with_second_precision() -> None:
    east = timezone(timedelta(hours=2))
    assert created_timestamp(datetime(2026, 1, 1, 1, 0, 0, tzinfo=east)) == "2025-12-31T23:00:00Z"
    assert created_timestamp(datetime(2026, 1, 1, 12, 0, 0, 5)) == "2026-01-01T12:00:00Z"


def test_dry_run_text_is_aligned_and_json_round_trips() -> None:
    import json

    plan = make_build_plan(CONFIG, HOST, SOURCE, NOW)
    text = plan.describe()
    lines = text.splitlines()
    values_start = {len(line) - len(line.split("  ")[-1].lstrip()) for line in lines}
    assert len(values_start) == 1  # one column for every value
    assert "action" in text
    assert "load into the local engine" in text
    assert "build-arg BASE_IMAGE" in text
    data = json.loads(plan.dumps())
    assert data["platforms"] == ["linux/arm64"]
    assert data["load"] is True
    assert data["labels"]["org.opencontainers.image.revision"] == SOURCE.revision
