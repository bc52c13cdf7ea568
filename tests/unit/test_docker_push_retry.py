"""Which failed pushes the docker seam tries once more: a registry's 5xx, nothing else."""

from __future__ import annotations

import pytest

from build_tools.docker import transient_push_failure

# What buildx printed when Debian's registry 2.8 failed a HEAD of a tag being written.
SEEN = (
    "> pushing 127.0.0.1:5000/test-size/integration:probe with docker: | ------ | ERROR: "
    "unexpected status from HEAD request to "
    "http://127.0.0.1:5000/v2/test-size/integration/manifests/probe: 500 Internal Server Error"
)


@pytest.mark.parametrize(
    "output",
    [
        SEEN,
        "ERROR: unexpected status from PUT request to http://r:5000/v2/a/manifests/x: 503 "
        "Service Unavailable",
    ],
)
def test_a_registry_5xx_during_the_push_is_transient(output: str) -> None:
    assert transient_push_failure(output)


@pytest.mark.parametrize(
    "output",
    [
        "ERROR: unexpected status from HEAD request to http://r/v2/a/manifests/x: 401 Unauthorized",
        'ERROR: failed to solve: process "/bin/sh -c exit 1" did not complete successfully',
        "ERROR: unexpected status from HEAD request to http://r/v2/a/manifests/x: 5000 bytes",
        "",
    ],
)
def test_anything_else_is_not(output: str) -> None:
    assert not transient_push_failure(output)
