"""A stub OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

Each request to ``/v1/chat/completions`` is answered by ``respond(body) -> assistant message``
after ``delay`` seconds, unless a failure was injected: an HTTP status (with ``retry-after-ms: 1``,
so the client's backoff stays short) or ``"slow"`` (the reply comes after ``slow_seconds``, past a
short client timeout). ``fail_when(body) -> status | None`` injects failures by content.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable
from typing import Any

Respond = Callable[[dict[str, Any]], dict[str, Any]]


class StubOpenAI:
    """Start with ``with StubOpenAI(respond) as server:``; the API root is ``server.url``.

    Attributes:
        requests: ``(path, authorization header, body)`` of every request, in arrival order.
        max_in_flight: The most requests it was answering at once.
    """

    def __init__(self, respond: Respond, delay: float = 0.0, slow_seconds: float = 2.0) -> None:
        self.respond, self.delay, self.slow_seconds = respond, delay, slow_seconds
        self.requests: list[tuple[str, str | None, dict[str, Any]]] = []
        self.failures: list[int | str] = []
        self.fail_when: Callable[[dict[str, Any]], int | None] = lambda body: None
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def fail_next(self, *failures: int | str) -> None:
        """The next requests fail, one failure each: an HTTP status, or ``"slow"``."""
        with self._lock:
            self.failures.extend(failures)

    def __enter__(self) -> StubOpenAI:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str, auth: str | None, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append((path, auth, body))
            failure = self.failures.pop(0) if self.failures else self.fail_when(body)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if isinstance(failure, int):
                return failure, {"error": {"message": f"injected {failure}", "type": "stub", "code": failure}}
            time.sleep(self.slow_seconds if failure == "slow" else self.delay)
            try:
                message = self.respond(body)
            except Exception as exc:  # a bug in a test's script: a visible 500, not a dropped connection
                return 500, {"error": {"message": f"respond raised {exc!r}", "type": "stub", "code": 500}}
            return 200, {"id": "stub", "object": "chat.completion", "created": 0, "model": body.get("model"),
                         "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
        finally:
            with self._lock:
                self._in_flight -= 1

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as model servers do

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, reply = stub._answer(self.path, self.headers.get("Authorization"), body)
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if status != 200:
                        self.send_header("retry-after-ms", "1")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def tool_call(name: str, arguments: dict[str, Any], content: str | None = None) -> dict[str, Any]:
    """An assistant message with one tool call, as a server sends it."""
    return {"role": "assistant", "content": content, "tool_calls": [
        {"id": f"call_{name}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]}


def text(content: str) -> dict[str, Any]:
    """An assistant message without tool calls."""
    return {"role": "assistant", "content": content}
