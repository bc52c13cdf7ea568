"""The registry part of the seam: image references and the OCI distribution API over HTTP.

Pure parts first (reference parsing, loopback detection, URLs, index entries), then
`RealRegistry`, the only code that speaks HTTP to a registry. Every request follows the
Docker registry token flow: a 401 with a `Bearer` challenge fetches an anonymous token
for the challenged scope and retries once, so token-protected registries (Docker Hub,
ghcr.io) answer manifests, blobs and tag lists alike. Loopback registries (localhost,
127.0.0.0/8, [::1]) speak plain HTTP, every other one HTTPS.

What needs docker's credentials (pushing, writing tags, reading what a login may see) goes
through the docker part (`docker buildx imagetools`) instead.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from build_tools.errors import RegistryError

# Manifest media types we ask registries for, newest first; the first two are indexes.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_MEDIA_TYPES = frozenset(MANIFEST_MEDIA_TYPES[:2])
DOCKER_HUB = "docker.io"
_ATTESTATION_TYPE = "attestation-manifest"


class Reference(NamedTuple):
    """`registry[:port]/repository[:tag][@digest]`, split; `reference` is the tag or digest."""

    registry: str
    repository: str
    reference: str

    @property
    def repository_url(self) -> str:
        return f"{api_root(self.registry)}/{self.repository}"

    def manifest_url(self, reference: str | None = None) -> str:
        return f"{self.repository_url}/manifests/{reference or self.reference}"

    def blob_url(self, digest: str) -> str:
        return f"{self.repository_url}/blobs/{digest}"

    def tags_url(self) -> str:
        return f"{self.repository_url}/tags/list?n=1000"


def parse_reference(ref: str) -> Reference:
    """Split an image reference the way docker does (docker.io and library/ implied)."""
    name, _, digest = ref.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, name
    repository, _, tag = path.rpartition(":") if ":" in path else (path, "", "latest")
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not repository:
        raise RegistryError(f"Reading reference {ref!r}", "it names no repository", "Use REPO:TAG.")
    return Reference(registry, repository, digest or tag)


def registry_host(registry: str) -> str:
    """The host part of `host[:port]`, IPv6 literals keeping their brackets."""
    if registry.startswith("["):
        return registry.partition("]")[0] + "]"
    return registry.partition(":")[0]


def is_loopback(registry: str) -> bool:
    """True for localhost, 127.0.0.0/8 and [::1], with or without a port."""
    host = registry_host(registry)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_root(registry: str) -> str:
    """The v2 API root; plain http only for a loopback registry (insecure, local)."""
    scheme = "http" if is_loopback(registry) else "https"
    return f"{scheme}://{'registry-1.docker.io' if registry == DOCKER_HUB else registry}/v2"


# -- index entries -------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexEntry:
    platform: str  # os/architecture[/variant]
    digest: str
    attestation: bool  # a BuildKit provenance/SBOM manifest, not a runnable image

    @property
    def os_arch(self) -> str:
        """os/architecture without the variant (an arm64 entry may say linux/arm64/v8)."""
        return "/".join(self.platform.split("/")[:2])


def platform_name(platform: Mapping[str, Any]) -> str:
    parts = [str(platform.get("os", "?")), str(platform.get("architecture", "?"))]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def is_attestation(descriptor: Mapping[str, Any]) -> bool:
    annotations = descriptor.get("annotations") or {}
    platform = descriptor.get("platform") or {}
    return annotations.get("vnd.docker.reference.type") == _ATTESTATION_TYPE or (
        platform.get("os") == "unknown" and platform.get("architecture") == "unknown"
    )


def is_index(document: Mapping[str, Any]) -> bool:
    return document.get("mediaType") in INDEX_MEDIA_TYPES or "manifests" in document


def index_entries(index: Mapping[str, Any]) -> list[IndexEntry]:
    """Every entry of an image index (or manifest list), attestations marked."""
    return [
        IndexEntry(
            platform_name(entry.get("platform") or {}),
            str(entry.get("digest", "")),
            is_attestation(entry),
        )
        for entry in index.get("manifests", [])
    ]


def image_manifests(index: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(platform, manifest digest) for every runnable image in an index; attestations skipped."""
    return [
        (entry.platform, entry.digest) for entry in index_entries(index) if not entry.attestation
    ]


# -- the registry over HTTP ----------------------------------------------------------------


class Registry(Protocol):
    """Reads from registries: manifests, blobs and tag lists (anonymous, token flow)."""

    def get(self, url: str, *, accept: Sequence[str] = ()) -> bytes: ...

    def stream(self, url: str) -> Iterator[bytes]: ...

    def tags(self, repository: str) -> tuple[str, ...]: ...


def get_json(registry: Registry, url: str, accept: Sequence[str] = ()) -> dict[str, Any]:
    body = registry.get(url, accept=accept)
    try:
        parsed: dict[str, Any] = json.loads(body)
    except ValueError as exc:
        raise RegistryError(f"GET {url}", "the answer is not JSON", "Check the registry.") from exc
    return parsed


class _SameHostAuthorization(urllib.request.HTTPRedirectHandler):
    """Blob downloads redirect to storage hosts, which refuse the registry's bearer token."""

    def redirect_request(  # noqa: PLR0917 (urllib's signature)
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        moved = urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc
        if new is not None and moved:
            new.remove_header("Authorization")
        return new


def _token_scope(url: str) -> str:
    """Tokens are granted per repository: the URL up to `/manifests/`, `/blobs/` or `/tags/`."""
    match = re.match(r"^(https?://[^/]+/v2/.+?)/(?:manifests|blobs|tags)/", url)
    return match.group(1) if match else urllib.parse.urlsplit(url).netloc


class RealRegistry:
    """HTTP(S) to registries with the anonymous token flow; one token per challenged scope."""

    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(_SameHostAuthorization())
        self._tokens: dict[str, str] = {}  # repository URL -> anonymous bearer token

    def _open(self, url: str, accept: Sequence[str], what: str) -> Any:
        if not url.startswith(("http://", "https://")):
            raise RegistryError(what, "only http(s) URLs are registries", "Fix the URL.")
        scope = _token_scope(url)
        try:
            return self._send(url, accept, self._tokens.get(scope), what)
        except urllib.error.HTTPError as exc:
            challenge = exc.headers.get("WWW-Authenticate", "") if exc.headers else ""
            if exc.code != 401 or not challenge.startswith("Bearer "):
                raise
            self._tokens[scope] = self._anonymous_token(challenge)
        return self._send(url, accept, self._tokens[scope], what)

    def _send(self, url: str, accept: Sequence[str], token: str | None, what: str) -> Any:
        """One GET; HTTP errors are raised as they are (callers decide what a code means)."""
        headers = {"Accept": ", ".join(accept)} if accept else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 (scheme checked)
        try:
            return self._opener.open(request, timeout=60)
        except urllib.error.HTTPError:
            raise  # a subclass of URLError, but an answer: not "unreachable"
        except urllib.error.URLError as exc:
            raise RegistryError(
                what,
                f"the registry is unreachable ({exc.reason})",
                "Start the registry or fix its address (--registry), then retry.",
            ) from exc

    def _fetch(self, url: str, accept: Sequence[str]) -> Any:
        what = f"GET {url}"
        try:
            return self._open(url, accept, what)
        except urllib.error.HTTPError as exc:
            raise RegistryError(
                what,
                f"the registry answered HTTP {exc.code}",
                "Check the reference, that it was pushed and that it allows anonymous pulls.",
            ) from exc

    def get(self, url: str, *, accept: Sequence[str] = ()) -> bytes:
        with self._fetch(url, accept) as response:
            body: bytes = response.read()
            return body

    def stream(self, url: str) -> Iterator[bytes]:
        with self._fetch(url, ()) as response:
            while chunk := response.read(1 << 20):
                yield chunk

    def tags(self, repository: str) -> tuple[str, ...]:
        """Every tag of `registry/name` (empty if the name is unknown), following pagination."""
        parsed = parse_reference(repository)
        what = f"Listing tags of {repository}"
        url: str | None = parsed.tags_url()
        tags: list[str] = []
        while url is not None:
            try:
                with self._open(url, (), what) as response:
                    tags += json.loads(response.read()).get("tags") or []
                    link = response.headers.get("Link", "")
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return ()  # an unknown repository has no tags
                raise RegistryError(
                    what,
                    f"the registry answered HTTP {exc.code}",
                    "Check the repository name and that it allows anonymous pulls.",
                ) from exc
            next_path = link.split(";")[0].strip("<> ") if link else ""
            url = urllib.parse.urljoin(url, next_path) if next_path else None
        return tuple(tags)

    def _anonymous_token(self, challenge: str) -> str:
        fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        query = urllib.parse.urlencode({k: v for k, v in fields.items() if k != "realm"})
        realm = fields.get("realm", "")
        what = "Getting an anonymous registry token"
        # A token service speaks https, like the registry; only a loopback one may not.
        realm_host = urllib.parse.urlsplit(realm).netloc
        if not (
            realm.startswith("https://")
            or (realm.startswith("http://") and is_loopback(realm_host))
        ):
            raise RegistryError(
                what, f"the token service {realm!r} is not https", "Use an https registry."
            )
        try:
            with self._opener.open(f"{realm}?{query}", timeout=60) as response:
                body = json.loads(response.read())
        except urllib.error.URLError as exc:  # HTTPError included
            raise RegistryError(
                what,
                f"the token service did not answer ({exc})",
                "Check the registry's reachability and that it allows anonymous pulls.",
            ) from exc
        token: str = body.get("token") or body.get("access_token") or ""
        return token
