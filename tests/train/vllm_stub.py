"""Stand-ins for vLLM on a CPU: a server speaking the HTTP API TRL's client generates with, scripted
policies (token ids by turn) for the rollout backends, and vLLM made to look installed or missing."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

MODEL_ID = "stub-model"


def pretend_vllm(monkeypatch, installed: bool) -> None:
    """Makes vLLM look installed or missing to ``importlib.util.find_spec``, whatever this machine has."""
    find_spec = importlib.util.find_spec
    fake = SimpleNamespace(name="vllm") if installed else None
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: fake if name == "vllm" else find_spec(name, *a))


def turn_of(tokenizer: Any, prompt_ids: list[int]) -> int:
    """Which assistant turn a prompt asks for: 0 for the opening one (its only generation prompt)."""
    return tokenizer.decode(prompt_ids).count("<|im_start|>assistant") - 1


def scripted(tokenizer: Any, script: list[str]) -> Callable[[list[int]], list[int]]:
    """A policy writing ``script[k]`` (canonically tokenized, then EOS) at turn k of any episode."""

    def reply(prompt_ids: list[int]) -> list[int]:
        text = script[min(turn_of(tokenizer, prompt_ids), len(script) - 1)]
        return tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_token_id]

    return reply


class StubVLLMServer:
    """The endpoints TRL's :class:`~trl.generation.vllm_client.VLLMClient` generates through, as TRL
    1.16's ``trl vllm-serve`` (vLLM's OpenAI server) answers them: ``GET /health``, ``GET /v1/models``
    and ``POST /v1/completions`` with token-id prompts and ``return_token_ids``, whose choices come
    prompt-major with ``prompt_token_ids`` and ``token_ids``. Records every request body.

    Args:
        reply: The sampled ids for one prompt's ids.
    """

    def __init__(self, reply: Callable[[list[int]], list[int]]) -> None:
        self.reply, self.requests, self.paths = reply, [], []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> StubVLLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        """vLLM's completion response for a batch of token-id prompts, ``n`` choices each."""
        self.requests.append(body)
        choices = [
            {"index": i * body.get("n", 1) + j, "text": "", "logprobs": None, "finish_reason": "stop",
             "stop_reason": None, "prompt_token_ids": prompt, "token_ids": self.reply(prompt)}
            for i, prompt in enumerate(body["prompt"]) for j in range(body.get("n", 1))
        ]
        return {"id": "cmpl-stub", "object": "text_completion", "created": 0, "model": MODEL_ID, "choices": choices}


def _handler(stub: StubVLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            stub.paths.append(("GET", self.path))
            if self.path == "/health":
                self._send(200, {})
            elif self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]})
            else:
                self._send(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            stub.paths.append(("POST", self.path))
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/v1/completions":
                self._send(200, stub.completions(body))
            else:
                self._send(404, {"detail": "Not Found"})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            """Quiet."""

    return Handler
