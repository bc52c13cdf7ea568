"""A scripted fake Ollama server (real HTTP on a configurable host/port).

It speaks ``POST /api/chat`` in Ollama's wire format, streaming (NDJSON, what
langchain-ollama uses by default) and non-streaming. Which reply a request gets:

* a script is chosen by the conversation's user messages: a script registered
  with ``FakeOllama.script(marker, steps)`` whose marker appears in them, else an
  inline ``FAKE_OLLAMA_SCRIPT=<json list of steps>`` (to end of line) in them
  (usable across processes, e.g. from container smoke tests), else
  ``DEFAULT_SCRIPT`` (write ``hello.txt`` then answer). Tool names and arguments are
  the agent's: graphton 1.0.4 offers e.g. ``write_file(path, content)``,
  ``read_file(path)``, ``ls(path)`` and ``execute(command)``;
* the step index is the number of assistant messages already in the request, so
  replies are stateless per conversation and survive retries and concurrency.

Run standalone: ``python -m tests.support.fake_ollama --host 0.0.0.0 --port 11434``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

INLINE_PREFIX = "FAKE_OLLAMA_SCRIPT="


@dataclass(frozen=True)
class Step:
    """One model reply. ``raw`` (if set) is sent verbatim instead of a valid reply."""

    content: str = ""
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    delay: float = 0.0
    status: int = 200
    raw: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        calls = tuple((c["name"], dict(c.get("arguments", {}))) for c in data.get("tool_calls", []))
        return cls(
            content=str(data.get("content", "")),
            tool_calls=calls,
            delay=float(data.get("delay", 0.0)),
            status=int(data.get("status", 200)),
            raw=data.get("raw"),
        )


def tool(name: str, **arguments: Any) -> Step:
    return Step(tool_calls=((name, arguments),))


def final(text: str, delay: float = 0.0) -> Step:
    return Step(content=text, delay=delay)


DEFAULT_SCRIPT: tuple[Step, ...] = (
    tool("write_file", path="hello.txt", content="hello from fake ollama\n"),
    final("Wrote hello.txt."),
)


@dataclass
class FakeOllama:
    host: str = "127.0.0.1"
    port: int = 0
    model: str = "fake-model"
    scripts: dict[str, tuple[Step, ...]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)  # time.time() of each request
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def script(self, marker: str, steps: Sequence[Step]) -> None:
        with self._lock:
            self.scripts[marker] = tuple(steps)

    def requests_with(self, text: str) -> list[dict[str, Any]]:
        """The recorded ``/api/chat`` requests whose messages contain ``text`` (a marker)."""
        return [r for r in list(self.requests) if text in json.dumps(r.get("messages", []))]

    def first_request_at(self, text: str) -> float | None:
        """When the first ``/api/chat`` request containing ``text`` arrived (None: none did)."""
        with self._lock:
            pairs = list(zip(self.received_at, self.requests, strict=True))
        found = [at for at, r in pairs if text in json.dumps(r.get("messages", []))]
        return min(found, default=None)

    def record(self, request: dict[str, Any]) -> None:
        with self._lock:  # both lists together: concurrent handlers keep them aligned
            self.received_at.append(time.time())
            self.requests.append(request)

    def pick(self, messages: list[dict[str, Any]]) -> Step:
        user_text = "\n".join(
            str(m.get("content", "")) for m in messages if m.get("role") == "user"
        )
        steps: tuple[Step, ...] = DEFAULT_SCRIPT
        with self._lock:
            matches = [s for marker, s in self.scripts.items() if marker in user_text]
        if matches:
            steps = matches[0]
        elif INLINE_PREFIX in user_text:
            line = user_text.split(INLINE_PREFIX, 1)[1].splitlines()[0]
            steps = tuple(Step.from_dict(d) for d in json.loads(line))
        index = sum(1 for m in messages if m.get("role") == "assistant")
        return steps[min(index, len(steps) - 1)]

    def start(self) -> FakeOllama:
        self._server = ThreadingHTTPServer((self.host, self.port), _make_handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        server = self._server
        # A short poll interval makes stop() (and SIGTERM) quick.
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _chunks(fake: FakeOllama, model: str, step: Step) -> list[dict[str, Any]]:
    message: dict[str, Any] = {"role": "assistant", "content": step.content}
    if step.tool_calls:
        message["tool_calls"] = [
            {"function": {"name": name, "arguments": args}} for name, args in step.tool_calls
        ]
    done: dict[str, Any] = {
        "model": model,
        "created_at": _now(),
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "total_duration": 1000,
        "load_duration": 10,
        "prompt_eval_count": 10,
        "prompt_eval_duration": 100,
        "eval_count": 5,
        "eval_duration": 100,
    }
    return [{"model": model, "created_at": _now(), "message": message, "done": False}, done]


def _make_handler(fake: FakeOllama) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self) -> None:
            self._send(200, b"")

        def do_GET(self) -> None:
            if self.path == "/api/tags":
                body = {"models": [{"name": fake.model, "model": fake.model, "size": 1}]}
                self._send(200, json.dumps(body).encode())
            elif self.path == "/api/version":
                self._send(200, b'{"version":"0.0.0-fake"}')
            else:
                self._send(200, b"Ollama is running", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send(400, b'{"error":"invalid JSON"}')
                return
            if self.path == "/api/show":
                self._send(200, json.dumps({"capabilities": ["completion", "tools"]}).encode())
                return
            if self.path != "/api/chat":
                self._send(404, b'{"error":"not found"}')
                return
            fake.record(request)
            step = fake.pick(list(request.get("messages", [])))
            if step.delay:
                time.sleep(step.delay)
            if step.status != 200:
                error = json.dumps({"error": f"fake status {step.status}"}).encode()
                self._send(step.status, error)
                return
            if step.raw is not None:
                self._send(200, step.raw.encode(), "application/x-ndjson")
                return
            chunks = _chunks(fake, str(request.get("model", fake.model)), step)
            if request.get("stream", True):
                body = b"".join(json.dumps(c).encode() + b"\n" for c in chunks)
                self._send(200, body, "application/x-ndjson")
            else:
                merged = dict(chunks[-1], message=chunks[0]["message"])
                self._send(200, json.dumps(merged).encode())

    return Handler


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    args = parser.parse_args(argv)
    # Also correct as PID 1 in a container, which has no default SIGTERM action.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    fake = FakeOllama(host=args.host, port=args.port).start()
    print(json.dumps({"event": "fake_ollama_ready", "base_url": fake.base_url}), flush=True)
    try:
        threading.Event().wait()
    except (KeyboardInterrupt, SystemExit):
        fake.stop()


if __name__ == "__main__":
    main()
