"""The one way ToolGym calls an OpenAI-compatible chat-completions server: model agents and simulated users.

Requests go through the ``openai`` client package (an optional extra: ``pip install
'toolgym[openai]'``), which retries 408, 409, 429 and 5xx replies, dropped connections and timeouts
with exponential backoff, honouring the server's ``Retry-After``. A request that still fails after
``max_retries`` raises :class:`~toolgym.error.BackendError`: an infrastructure fault, which
:func:`toolgym.evaluate.play_batch` records against its episode and never scores.

The client is thread-safe: one client serves every episode in flight (``toolgym eval --concurrency``).
"""

from __future__ import annotations

import os
import re
from typing import Any

from toolgym.error import BackendError, InvalidKnob

__all__ = ["DEFAULT_MAX_RETRIES", "DEFAULT_TIMEOUT", "chat_completion", "make_client", "resolve_base_url"]

DEFAULT_TIMEOUT = 600.0
"""Seconds one request may take (a long reasoning turn on a busy server takes minutes)."""

DEFAULT_MAX_RETRIES = 6
"""Retries of a request that failed for a reason worth retrying (about 25 s of backoff in all)."""

_CONTEXT_FULL = re.compile(r"context length|maximum context|context window|prompt is too long", re.IGNORECASE)


def resolve_base_url(base_url: str | None) -> str:
    """``base_url``, else ``$OPENAI_BASE_URL``, else OpenAI's API root; without a trailing slash."""
    return (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")


def make_client(
    base_url: str | None = None,
    api_key: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> Any:
    """An ``openai.OpenAI`` client for an OpenAI-compatible server.

    Args:
        base_url: The API root, e.g. ``http://127.0.0.1:8000/v1`` (see :func:`resolve_base_url`).
        api_key: Bearer token (default: ``$OPENAI_API_KEY``; local servers need none).
        timeout: Seconds per request.
        max_retries: Retries of a request that failed with 408/409/429/5xx, a dropped
            connection or a timeout, with exponential backoff.

    Raises:
        InvalidKnob: the ``openai`` package is not installed, or a bad timeout or retry count.
    """
    if timeout <= 0 or max_retries < 0:
        raise InvalidKnob(f"timeout must be > 0 and max_retries >= 0, got {timeout} and {max_retries}.")
    try:
        import openai
    except ImportError:
        raise InvalidKnob(
            "openai:MODEL needs the openai client package: pip install 'toolgym[openai]' (or pip install openai)."
        ) from None
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
    return openai.OpenAI(base_url=resolve_base_url(base_url), api_key=key or "EMPTY", timeout=timeout,
                         max_retries=max_retries)


def chat_completion(client: Any, **body: Any) -> dict[str, Any] | None:
    """Asks the server for one chat completion; returns its first message as a dict.

    The request goes through the client's own ``post`` (its retries, timeouts and typed errors)
    with the body as given: the typed ``chat.completions.create`` walks every tool schema of the
    request to transform it, a few milliseconds of CPU per request that the GIL turns into the
    limit of ``toolgym eval --concurrency 32``.

    Args:
        client: A client from :func:`make_client`.
        **body: The request's fields (``model``, ``messages``, ``tools``, ``temperature``, ...).

    Returns:
        The message (``content``, ``tool_calls``, and ``reasoning_content`` where the server sends
        it), or None when the server refuses the prompt as longer than the model's context: the
        conversation cannot go on, which is not an infrastructure fault.

    Raises:
        BackendError: the request kept failing (after the client's retries), or the reply holds
            no message.
    """
    import openai

    where = str(client.base_url).rstrip("/")
    try:
        reply = client.post("/chat/completions", cast_to=object, body=body)
    except openai.BadRequestError as exc:
        if _CONTEXT_FULL.search(str(exc)):
            return None
        raise BackendError(f"{where}: HTTP 400: {str(exc)[:300]}") from None
    except openai.APIStatusError as exc:
        raise BackendError(f"{where}: HTTP {exc.status_code} (after up to {client.max_retries} retries): "
                           f"{str(exc)[:300]}") from None
    except openai.APIConnectionError as exc:  # timeouts included
        raise BackendError(f"{where}: the request failed after {client.max_retries} retries: {exc}") from None
    try:
        message = reply["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        message = None
    if not isinstance(message, dict):
        raise BackendError(f"{where}: the reply has no choices[0].message: {str(reply)[:300]}")
    return message
