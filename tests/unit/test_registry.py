"""The registry part: references, loopback detection, and the token flow on every request.

The HTTP tests run a small registry in this process (a thread on 127.0.0.1) that behaves
as the distribution spec and Docker's token flow say: a 401 with a `Bearer` challenge
naming realm, service and scope; the token service answers `{"token": ...}`; tag lists
paginate with a `Link: <...>; rel="next"` header; blob reads redirect to another host.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from build_tools.errors import RegistryError
from build_tools.registry import (
    MANIFEST_MEDIA_TYPES,
    RealRegistry,
    api_root,
    index_entries,
    is_loopback,
    parse_reference,
)

TOKEN = "anon-token-1"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("127.0.0.1:5000/test-size/probe:1", ("127.0.0.1:5000", "test-size/probe", "1")),
        ("localhost:5000/a/b@sha256:ab", ("localhost:5000", "a/b", "sha256:ab")),
        ("ghcr.io/stigmer/agent-runner", ("ghcr.io", "stigmer/agent-runner", "latest")),
        ("python:3.13-slim", ("docker.io", "library/python", "3.13-slim")),
        ("[::1]:5000/a/b:2", ("[::1]:5000", "a/b", "2")),
    ],
)
def test_parse_reference(ref: str, expected: tuple[str, str, str]) -> None:
    assert parse_reference(ref) == expected


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("localhost:5000", True),
        ("localhost", True),
        ("[::1]:5000", True),
        ("[::1]", True),
        ("ghcr.io", False),
        ("10.0.0.5:5000", False),
        ("[2001:db8::1]:5000", False),
        ("docker.io", False),
    ],
)
def test_loopback_detection_covers_ipv4_and_ipv6(registry: str, loopback: bool) -> None:
    assert is_loopback(registry) is loopback


def test_only_loopback_registries_use_plain_http() -> None:
    assert api_root("127.0.0.1:5000") == "http://127.0.0.1:5000/v2"
    assert api_root("localhost:5000") == "http://localhost:5000/v2"
    assert api_root("[::1]:5000") == "http://[::1]:5000/v2"
    assert api_root("ghcr.io") == "https://ghcr.io/v2"
    assert api_root("docker.io") == "https://registry-1.docker.io/v2"


def test_index_entries_mark_attestations() -> None:
    index = {
        "manifests": [
            {
                "digest": "sha256:a",
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            },
            {"digest": "sha256:b", "platform": {"os": "unknown", "architecture": "unknown"}},
        ]
    }
    entries = index_entries(index)
    assert [(e.platform, e.digest, e.attestation) for e in entries] == [
        ("linux/arm64/v8", "sha256:a", False),
        ("unknown/unknown", "sha256:b", True),
    ]


# -- a token-protected registry in this process ---------------------------------------------


@dataclass
class Registry:
    tags: list[str]
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, bytes] = field(default_factory=dict)
    page_size: int = 2
    seen: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization)
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)


def _handler(state: Registry, port: list[int]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            del format, args

        def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            auth = self.headers.get("Authorization")
            state.seen.append((url.path, auth))
            if url.path == "/token":
                state.token_requests.append(urllib.parse.parse_qs(url.query))
                self._send(200, json.dumps({"token": TOKEN}).encode())
                return
            if url.path.startswith("/storage/"):  # the blob store a registry redirects to
                if auth is not None:
                    self._send(400, b"storage refuses a registry token")
                else:
                    self._send(200, state.blobs[url.path.removeprefix("/storage/")])
                return
            if auth != f"Bearer {TOKEN}":
                realm = f"http://127.0.0.1:{port[0]}/token"
                challenge = (
                    f'Bearer realm="{realm}",service="test-registry",'
                    'scope="repository:team/app:pull"'
                )
                self._send(401, b"{}", {"WWW-Authenticate": challenge})
                return
            if url.path == "/v2/team/app/tags/list":
                query = urllib.parse.parse_qs(url.query)
                last = query.get("last", [""])[0]
                rest = [tag for tag in state.tags if tag > last] if last else list(state.tags)
                page = rest[: state.page_size]
                headers = {}
                if len(rest) > state.page_size:
                    headers["Link"] = f'</v2/team/app/tags/list?n=2&last={page[-1]}>; rel="next"'
                self._send(200, json.dumps({"name": "team/app", "tags": page}).encode(), headers)
            elif url.path.startswith("/v2/team/app/manifests/"):
                reference = url.path.rsplit("/", 1)[1]
                if reference in state.manifests:
                    self._send(200, state.manifests[reference])
                else:
                    self._send(404, b"{}")
            elif url.path.startswith("/v2/team/app/blobs/"):
                digest = url.path.rsplit("/", 1)[1]
                # Another host (localhost, not 127.0.0.1) as real blob stores are.
                location = f"http://localhost:{port[0]}/storage/{digest}"
                self._send(307, b"", {"Location": location})
            else:
                self._send(404, b"{}")

    return Handler


@pytest.fixture
def registry() -> Iterator[tuple[Registry, str]]:
    state = Registry(tags=["0.1.0", "0.2.0", "1.0.0", "latest", "v1"])
    port: list[int] = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state, port))
    port.append(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"127.0.0.1:{port[0]}"
    finally:
        server.shutdown()
        server.server_close()


def test_tag_listing_takes_a_token_and_follows_pages(registry: tuple[Registry, str]) -> None:
    state, address = registry
    tags = RealRegistry().tags(f"{address}/team/app")
    assert tags == ("0.1.0", "0.2.0", "1.0.0", "latest", "v1")
    assert len(state.token_requests) == 1  # one token, reused for every page
    assert state.token_requests[0]["scope"] == ["repository:team/app:pull"]
    assert state.token_requests[0]["service"] == ["test-registry"]


def test_manifests_and_blobs_take_the_token_too(registry: tuple[Registry, str]) -> None:
    state, address = registry
    state.manifests["1"] = b'{"schemaVersion": 2}'
    state.blobs["sha256:ab"] = b"layer bytes"
    reference = parse_reference(f"{address}/team/app:1")
    client = RealRegistry()

    body = client.get(reference.manifest_url(), accept=MANIFEST_MEDIA_TYPES)
    blob = b"".join(client.stream(reference.blob_url("sha256:ab")))

    assert body == b'{"schemaVersion": 2}'
    assert blob == b"layer bytes"
    # The storage host got no registry token (it would refuse it).
    assert [auth for path, auth in state.seen if path.startswith("/storage/")] == [None]


def test_an_unknown_repository_has_no_tags(registry: tuple[Registry, str]) -> None:
    _state, address = registry
    assert RealRegistry().tags(f"{address}/team/other") == ()


def test_a_missing_manifest_is_a_registry_error(registry: tuple[Registry, str]) -> None:
    _state, address = registry
    reference = parse_reference(f"{address}/team/app:absent")
    with pytest.raises(RegistryError, match="HTTP 404"):
        RealRegistry().get(reference.manifest_url())


def test_an_unreachable_registry_says_so() -> None:
    with pytest.raises(RegistryError, match="unreachable"):
        RealRegistry().tags("127.0.0.1:9/team/app")
