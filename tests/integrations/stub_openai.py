"""A stub OpenAI-compatible chat server on 127.0.0.1 whose "model" is ToolGym's oracle.

It answers ``POST /v1/chat/completions`` with native tool calls (fresh ids) or a final answer,
by reading which scenario the chat opens and which gold calls the chat already made, and keeps
every request it got, so a test can check what a client sent.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

from toolgym.oracle import OracleAgent
from toolgym.scenario import Scenario
from toolgym.tools.parsing import parse_hermes


def _oracle_view(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chat as ToolGym's oracle reads it: tool calls (native, or written as text) with their
    arguments as objects, not JSON text."""
    view = []
    for message in messages:
        calls = [{"function": {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}}
                 for c in message.get("tool_calls") or ()]
        if message.get("role") == "assistant" and not calls and isinstance(message.get("content"), str):
            calls = [{"function": {"name": c.name, "arguments": c.arguments}}
                     for c in parse_hermes(message["content"]).calls if c.ok]
        view.append({**message, "tool_calls": calls} if calls else message)
    return view


class StubOpenAI:
    """The server; ``url`` is its API root (``.../v1``), ``requests`` what it was sent."""

    def __init__(self, scenarios: list[Scenario], native_tool_calls: bool = True) -> None:
        self.by_question = {s.messages[-1]["content"]: s for s in scenarios}
        self.native_tool_calls = native_tool_calls
        """False: the "model" writes its calls as text, as a server without a tool parser returns them."""
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(body)
                payload = json.dumps(stub.complete(body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        question = next(m["content"] for m in messages if m["role"] == "user")
        scenario = self.by_question[question]
        holder = SimpleNamespace(unwrapped=SimpleNamespace(scenario=scenario))
        text = OracleAgent().act({"messages": _oracle_view(messages)}, holder)
        if not self.native_tool_calls:
            return _completion(body, {"role": "assistant", "content": text}, "stop")
        turn = parse_hermes(text)
        calls = [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                  "function": {"name": c.name, "arguments": json.dumps(c.arguments)}} for c in turn.calls]
        message = {"role": "assistant", "content": turn.content or None, **({"tool_calls": calls} if calls else {})}
        return _completion(body, message, "tool_calls" if calls else "stop")

    def close(self) -> None:
        """Stops the server."""
        self.server.shutdown()
        self.server.server_close()


def _completion(body: dict[str, Any], message: dict[str, Any], finish_reason: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion", "created": 0,
        "model": body.get("model", "stub"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
