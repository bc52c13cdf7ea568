# agent-runner: the Stigmer Temporal worker image.
#
# Build with `nox -s build` (python -m build_tools build): it first fills build/wheelhouse/
# with the wheels of agent-runner/requirements.lock for every target platform (on the
# host, hash-checked), which the dependency stage installs with no network. A plain
# `docker buildx build .` works once that wheelhouse exists.
#
# No `# syntax=` line on purpose: BuildKit's built-in Dockerfile frontend is used, so no
# frontend image has to be pulled.
#
# Works on both supported bases: the official python:3.13-slim (python in /usr/local/bin,
# has pip) and the offline Debian-built base (/usr/bin/python3.13, no pip). Only
# `python3` from PATH is used.

ARG BASE_IMAGE=python:3.13-slim@sha256:7c61056e61ac89e852de05f3dc6fa51a6dd2181797bceed46aa725dd7cb2cd3b

# Precompiled bytecode (1) or not (0); 1 is the measured choice. Offline base, linux/amd64,
# the shared 2-core build host, interleaved runs, fresh container each:
#                                   with bytecode     without
#   runner start -> poller ready    2.46 s            3.05 s   (median of 5; its startup_seconds,
#                                                               against a Temporal dev server)
#   `docker run` -> ready           2.88 s            3.32 s   (median of 5)
#   importing the startup path      1.5 s CPU         2.6 s CPU (median of 6)
#   image size, unpacked            219.9 MB          185.3 MB
#   image size, compressed          63.8 MB           53.3 MB
# Without .pyc files every container start recompiles everything it imports (the image is
# read-only to the runtime user and PYTHONDONTWRITEBYTECODE is set): dropping them saves
# 35 MB (7% of the 500 MB size budget) but costs ~0.6 s of every cold start (12% of its 5 s).
# (Those sizes predate stripping and sourceless dependencies; today's are in
# docs/development.md, "What the image carries".)
ARG COMPILE_BYTECODE=1
# The dependencies' .py sources next to their bytecode (1) or sourceless bytecode (0; with
# COMPILE_BYTECODE=1 only). agent-runner's own sources always stay, so its tracebacks show
# the failing line; a dependency's frames then show file and line number, no line text.
# 0 is the measured choice (docs/development.md, "What the image carries"): the sources
# are ~55 MB of the dependency layer, the bytecode alone imports the same.
ARG DEPENDENCY_SOURCES=0

# Reproducible: one commit and one set of inputs give the same layer, manifest and index
# digests on any clone and any day. `nox -s build|publish|bench` pass SOURCE_DATE_EPOCH (the
# commit time of HEAD unless set): BuildKit stamps the config and history with it, the code
# stage sets the mtime of everything it hands on to it, and the stages whose content does not
# depend on the commit set theirs to 0 (checkout, pip, compileall and RUN times would differ
# otherwise); modes are fixed where a clone's umask shows, and bytecode is compiled with a
# fixed hash seed. BuildKit's own `rewrite-timestamp=true` exporter option does the
# clamping for all layers, but this engine's builder (Docker 26.1.5, buildx 0.13.1, `docker`
# driver, containerd image store) refuses it for images: with the default store=true it fails
# "exporter option "rewrite-timestamp" conflicts with "unpack"" (unpack=false is overridden),
# with store=false the push fails "tag does not exist"; only the oci/tar exporters accept it.
# So the Dockerfile clamps itself, which works on every builder (measured: equal digests for
# both platforms from two fresh clones with --no-cache, tests/integration/test_reproducible.py).
# Without the build arg (a plain `docker buildx build .`) the files get mtime 0.
ARG SOURCE_DATE_EPOCH
# `python3 -c "$CLAMP_TREE" EPOCH DIR [modes]`: DIR and everything under it get mtime EPOCH
# (symlinks themselves, not their targets); with `modes`, 0755 for directories and
# executables, 0644 for other files. The stages' RUN steps share it through this ARG.
ARG CLAMP_TREE='import os, sys; t = int(sys.argv[1]); r = sys.argv[2]; \
paths = [os.path.join(d, n) for d, ds, fs in os.walk(r) for n in ds + fs] + [r]; \
[os.chmod(p, 0o755 if os.path.isdir(p) or os.stat(p).st_mode & 0o111 else 0o644) \
 for p in paths if sys.argv[3:] == ["modes"] and not os.path.islink(p)]; \
[os.utime(p, (t, t), follow_symlinks=False) for p in paths]'
# `python3 -c "$COMPILE_TREE" MODE DIR [compileall options]`: bytecode for DIR, one fresh
# `compileall` process per entry of DIR, several at a time. Not `compileall -j0`: marshal
# output depends on what the compiling process did before (refcounts decide its FLAG_REF
# back-references), and -j0 hands files to workers in a different order every run; measured:
# one of ~9000 .pyc files differed between two builds. Per entry, each process compiles a
# fixed set in sorted order, so the bytes are the same on any machine.
ARG COMPILE_TREE='import os, subprocess, sys; from concurrent.futures import ThreadPoolExecutor; \
mode, root, *options = sys.argv[1:]; \
argv = [sys.executable, "-m", "compileall", "-q", "--invalidation-mode", mode, *options]; \
entries = sorted(os.path.join(root, name) for name in os.listdir(root)); \
list(ThreadPoolExecutor(os.cpu_count()).map(lambda e: subprocess.run([*argv, e], check=True), entries))'

# -- deps: the locked wheels of the TARGET platform, installed on the BUILD platform --------
# pip's --platform/--python-version/--implementation select the target's wheels, so an
# arm64 image is assembled natively (no QEMU). pip runs from its own wheel (a runnable zip)
# because the offline base has no pip. Then the stage trims what nothing runs (tests,
# stubs, zstandard's CFFI backend, debug symbols, by default the .py sources), so the
# runtime stage copies only what the worker imports and needs no binutils.
FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS deps
ARG TARGETARCH
ARG COMPILE_BYTECODE
ARG DEPENDENCY_SOURCES
# No SOURCE_DATE_EPOCH here (nor in stdlib and the runtime RUN): their content does not
# depend on the commit, so their files get the fixed time 0 and a new commit reuses the
# cached layers (a build arg in a stage's environment would invalidate them every commit).
ARG CLAMP_TREE
ARG COMPILE_TREE
# Set constants are marshalled in hash order: a fixed seed keeps .pyc bytes identical.
ENV PYTHONHASHSEED=0
RUN --mount=type=bind,source=build/wheelhouse/pip,target=/pip \
    --mount=type=bind,source=build_tools/image/elf_strip.py,target=/tmp/elf_strip.py \
    --mount=type=bind,source=build/wheelhouse/${TARGETARCH},target=/wheelhouse \
    --mount=type=bind,source=agent-runner/requirements.lock,target=/requirements.lock \
    set -eu; \
    for wheel in /pip/pip-*.whl; do pip_wheel=$wheel; done; \
    set --; \
    while read -r tag; do set -- "$@" --platform "$tag"; done < /wheelhouse/pip-platforms.txt; \
    python3 "$pip_wheel/pip" install --isolated --disable-pip-version-check --no-cache-dir \
        --root-user-action=ignore --no-compile --target /opt/agent-runner/site-packages \
        "$@" --python-version 3.13 --implementation cp --only-binary=:all: \
        --no-index --find-links /wheelhouse/wheels --require-hashes --no-deps \
        -r /requirements.lock; \
    rm -rf /opt/agent-runner/site-packages/bin; \
    # Nothing imports the packages' own test suites or type stubs at run time (~10 MB).
    python3 -c 'import pathlib, shutil, sys; root = pathlib.Path(sys.argv[1]); \
        [shutil.rmtree(d) for d in [*root.glob("*/tests"), *root.glob("*/*/tests")] if d.is_dir()]; \
        [f.unlink() for f in root.rglob("*.pyi")]' /opt/agent-runner/site-packages; \
    # zstandard ships a C and a CFFI backend (~12 MB each unstripped); its __init__ picks
    # the C one on CPython unless PYTHON_ZSTANDARD_IMPORT_POLICY asks for cffi, which
    # nothing sets, and no other module imports the CFFI one (tests/integration/
    # test_image_trim.py checks both in the image).
    rm -f /opt/agent-runner/site-packages/zstandard/_cffi.*.so \
        /opt/agent-runner/site-packages/zstandard/backend_cffi.py; \
    # The wheels' native code ships with debug sections and static symbol tables (~40 MB;
    # temporalio's bridge alone 7 MB). The bases have no binutils, so a stdlib stripper
    # drops them; the loaded segments (.dynsym, .dynstr, code) stay byte-identical.
    python3 /tmp/elf_strip.py /opt/agent-runner/site-packages; \
    if [ "$COMPILE_BYTECODE" = 1 ] && [ "$DEPENDENCY_SOURCES" = 1 ]; then \
        python3 -c "$COMPILE_TREE" unchecked-hash /opt/agent-runner/site-packages; \
    elif [ "$COMPILE_BYTECODE" = 1 ]; then \
        # -b: module.pyc next to where module.py was, which Python imports without a source.
        python3 -c "$COMPILE_TREE" unchecked-hash /opt/agent-runner/site-packages -b; \
        python3 -c 'import pathlib, sys; [p.unlink() for p in pathlib.Path(sys.argv[1]).rglob("*.py") \
            if p.with_suffix(".pyc").is_file()]' /opt/agent-runner/site-packages; \
    elif [ "$DEPENDENCY_SOURCES" != 1 ]; then \
        echo "DEPENDENCY_SOURCES=0 needs COMPILE_BYTECODE=1: nothing would be left to import" >&2; \
        exit 1; \
    fi; \
    python3 -c "$CLAMP_TREE" 0 /opt/agent-runner

# -- code: agent-runner itself, its own layer so a code-only change reuses the deps ---------
FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS code
ARG COMPILE_BYTECODE
ARG SOURCE_DATE_EPOCH
ARG CLAMP_TREE
ARG COMPILE_TREE
ENV PYTHONHASHSEED=0
COPY agent-runner/src/agent_runner /opt/agent-runner/app/agent_runner
# The checkout's mtimes and umask-dependent modes stop here: 0644/0755, SOURCE_DATE_EPOCH.
RUN if [ "$COMPILE_BYTECODE" = 1 ]; then \
        python3 -c "$COMPILE_TREE" unchecked-hash /opt/agent-runner/app; \
    fi; \
    python3 -c "$CLAMP_TREE" "${SOURCE_DATE_EPOCH:-0}" /opt/agent-runner modes

# -- stdlib: the base's standard library as bytecode, compiled on the BUILD platform ---------
# Neither base ships stdlib .pyc files and the runtime user cannot write them, so without
# this every container start recompiles asyncio, logging, typing, ... (~0.25 s of a ~0.9 s
# cold start, measured). Bytecode does not depend on the architecture; checked-hash .pyc
# files are used only while their source is byte-identical, so a stdlib file that differs
# on the target is recompiled in memory, never misread. Only the __pycache__ directories
# are kept, under their absolute paths, so the runtime stage merges them in with one COPY
# and no base-specific path is written here (copied by python3: the bases have no find).
FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS stdlib
ARG COMPILE_BYTECODE
ARG CLAMP_TREE
ARG COMPILE_TREE
ENV PYTHONHASHSEED=0
RUN set -eu; \
    mkdir /stdlib-bytecode; \
    if [ "$COMPILE_BYTECODE" = 1 ]; then \
        stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))'); \
        python3 -c "$COMPILE_TREE" checked-hash "$stdlib" \
            -x '/(test|tests|idlelib|tkinter|turtledemo|lib2to3|ensurepip)/'; \
        python3 -c 'import os, shutil, sys; [shutil.copytree(d, "/stdlib-bytecode" + d) \
            for d, _, _ in os.walk(sys.argv[1]) if os.path.basename(d) == "__pycache__"]' "$stdlib"; \
    fi; \
    python3 -c "$CLAMP_TREE" 0 /stdlib-bytecode

# -- runtime: the target platform; no compilers, no pip, no caches ---------------------------
FROM ${BASE_IMAGE} AS runtime
# Defaults mirror agent-runner/src/agent_runner/contract.py (RUNTIME_UID, RUNTIME_GID,
# WORKSPACE_MOUNT); `nox -s build` passes the contract's values, a unit test keeps these equal.
ARG RUNTIME_UID=10001
ARG RUNTIME_GID=10001
ARG WORKSPACE=/workspace
# The only RUN on the target platform (QEMU on arm64), so only sh and coreutils: strip the
# official base's packaging tools (absent from the offline base), add the user by appending
# to passwd/group (the offline base has no useradd) and create the workspace.
RUN set -eu; \
    rm -rf /usr/local/bin/pip /usr/local/bin/pip3* /usr/local/bin/idle3* \
        /usr/local/lib/python3*/site-packages/pip /usr/local/lib/python3*/site-packages/pip-* \
        /usr/local/lib/python3*/site-packages/setuptools* /usr/local/lib/python3*/site-packages/wheel* \
        /usr/local/lib/python3*/ensurepip /usr/lib/python3*/ensurepip \
        /root/.cache /var/lib/apt/lists/* /var/cache/apt/*; \
    echo "agent-runner:x:${RUNTIME_UID}:${RUNTIME_GID}:agent-runner:/home/agent-runner:/usr/sbin/nologin" >> /etc/passwd; \
    echo "agent-runner:x:${RUNTIME_GID}:" >> /etc/group; \
    mkdir -p "${WORKSPACE}" /home/agent-runner; \
    chown "${RUNTIME_UID}:${RUNTIME_GID}" "${WORKSPACE}" /home/agent-runner; \
    chmod 0755 "${WORKSPACE}" /home/agent-runner; \
    # The COPY targets exist before the COPY steps: a directory COPY creates would change its
    # parent's mtime (to the build's time) in that layer; one that exists gets the source's.
    mkdir -p /opt/agent-runner/site-packages /opt/agent-runner/app; \
    # Everything this layer holds, at time 0: what it changed and its parents (-c: paths a
    # base lacks are not created). The COPY steps below bring clamped trees.
    touch -c -h -d @0 / /etc /etc/passwd /etc/group /home \
        /home/agent-runner "${WORKSPACE}" "$(dirname "${WORKSPACE}")" /opt /opt/agent-runner \
        /opt/agent-runner/site-packages /opt/agent-runner/app \
        /root /usr/local/bin /usr/local/lib/python3* /usr/local/lib/python3*/site-packages \
        /usr/lib/python3* /var/lib/apt/lists /var/cache/apt

# Root-owned and read-only for the runtime user: the worker cannot alter its own code.
# Least to most often changed, so a code-only change rebuilds just the last, small layer.
COPY --from=stdlib /stdlib-bytecode/ /
COPY --from=deps /opt/agent-runner/site-packages /opt/agent-runner/site-packages
COPY --from=code /opt/agent-runner/app /opt/agent-runner/app

# PYTHONPATH rather than a .pth file: the base's site-packages path differs between bases.
ENV PYTHONPATH=/opt/agent-runner/app:/opt/agent-runner/site-packages \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# SANDBOX_ROOT_DIR is deliberately not set here: a canonical variable baked into the image
# would beat the WORKSPACE_ROOT alias the CLI passes. From / the contract's default
# (./workspace) is the workspace mount itself.
WORKDIR /
# No USER: the Stigmer CLI runs the image without --user and mounts a workspace that the host
# user owns (often uid 1000, 0755). The runner starts as root and, before loading anything
# else, drops to that directory's owner (RUNTIME_UID for a root-owned one), the way the
# postgres and redis images' entrypoints do; the agent never runs as root, and its files
# belong to the host user. With --user the drop is skipped (agent_runner/privileges.py); the
# entrypoint's flag asks for it, so a run from source never changes user.
# The runner handles SIGTERM (drains in-flight activities, exits 0).
STOPSIGNAL SIGTERM
# Healthy once the readiness file (written after Temporal shows this worker's poller) names
# a live PID. start-period covers connecting to Temporal; start-interval probes often then.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --start-interval=2s --retries=3 \
    CMD ["python3", "-m", "agent_runner.healthcheck"]
ENTRYPOINT ["python3", "-m", "agent_runner", "--as-workspace-owner"]

# Last, so a new revision or timestamp changes only the image config, never a layer.
ARG BASE_IMAGE
ARG VERSION=0.0.0+unknown
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=""
LABEL org.opencontainers.image.title="agent-runner" \
      org.opencontainers.image.description="Temporal worker that executes Stigmer AI agents in a sandboxed workspace." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
