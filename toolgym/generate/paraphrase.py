"""Optional LLM stage: a model rewrites each question (and tool descriptions) in natural language.

FTRL's pipeline writes its questions and documents with an LLM; the builder's templates are exact
but few. With ``paraphrase="openai:MODEL"`` (or ``"hf:PATH"``) each built scenario's question goes
to that model, and the rewrite replaces the template only if it passes :func:`keeps_facts`: it
still names every entity the tools need (the string arguments of gold calls that depend on no
earlier step and that the question names), and it reveals no sub-answer the question did not. With
``paraphrase_tools=True`` each tool's description is rewritten too, kept only if every quoted
value, number and ``snake_case`` name of the original survives.

Rewrites are cached on disk by scenario id, model and original text (``paraphrase_cache``, by
default :func:`default_cache_dir`), so a suite rebuilt from its seed is byte-identical and needs no
model once cached. ``Scenario.meta["paraphrase"]`` records the model, whether the question was
rewritten, the template question and how many tool descriptions were.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from toolgym.error import BackendError, InvalidKnob
from toolgym.scenario import Scenario, Tool

__all__ = [
    "QUESTION_PROMPT",
    "TOOL_PROMPT",
    "Rewriter",
    "check_spec",
    "default_cache_dir",
    "keeps_facts",
    "make_rewriter",
    "needed_entities",
    "paraphrase_scenario",
]

QUESTION_PROMPT = (
    "Rewrite the user's question so that it reads as natural, fluent English, as a person would ask "
    "it. Keep its meaning exactly. Copy every name, title and number exactly as written, and keep "
    "any requested unit or answer format. Reply with the rewritten question only."
)
"""System prompt of question rewrites."""

TOOL_PROMPT = (
    "Rewrite this description of a software tool in clear, natural English. Keep its meaning "
    "exactly; copy every quoted value, number and identifier exactly as written. Reply with the "
    "rewritten description only."
)
"""System prompt of tool-description rewrites."""

_PROTECTED = re.compile(r"'[^']+'|\"[^\"]+\"|`[^`]+`|\b\w+_\w+\b|\d+(?:[.,]\d+)*")
_LABEL = re.compile(r"^(?:rewritten(?: question| description)?|question|description)\s*:\s*", re.IGNORECASE)


class Rewriter(Protocol):
    """A model that answers one chat: ``(system prompt, text) -> rewrite``."""

    def __call__(self, system: str, text: str) -> str: ...


class _OpenAIRewriter:
    def __init__(self, model: str, base_url: str | None) -> None:
        from toolgym.openai_api import make_client

        self.model, self._client = model, make_client(base_url)

    def __call__(self, system: str, text: str) -> str:
        from toolgym.openai_api import chat_completion

        messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
        message = chat_completion(self._client, model=self.model, messages=messages, temperature=0.0, max_tokens=512)
        if message is None:
            raise BackendError(f"The paraphrase model {self.model!r} refused a prompt as longer than its context.")
        return str(message.get("content") or "")


class _HFRewriter:
    def __init__(self, path: str) -> None:
        from toolgym.hf import HFGenerator, load_pretrained

        model, self.tokenizer = load_pretrained(path)
        self._generate = HFGenerator(model, self.tokenizer, max_new_tokens=512, temperature=0.0)
        self._lock = threading.Lock()

    def __call__(self, system: str, text: str) -> str:
        from toolgym.hf import render_ids

        messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
        ids = render_ids(self.tokenizer, messages, [], add_generation_prompt=True)
        with self._lock:
            out = self._generate([ids])[0]
        return self.tokenizer.decode(out, skip_special_tokens=True)


def check_spec(spec: Any) -> str:
    """Returns ``spec`` if it is ``openai:MODEL`` or ``hf:PATH``; else raises InvalidKnob."""
    kind, _, rest = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if kind not in ("openai", "hf") or not rest:
        raise InvalidKnob(f"paraphrase must be an agent spec, openai:MODEL or hf:PATH (or None: off), got {spec!r}.")
    return spec


@functools.lru_cache(maxsize=8)
def make_rewriter(spec: str, base_url: str | None = None) -> Rewriter:
    """The model of a spec, made once per process: ``openai:MODEL`` on the OpenAI-compatible server at
    ``base_url`` (else ``$OPENAI_BASE_URL``; key ``$OPENAI_API_KEY``), or the local ``hf:PATH``."""
    kind, _, rest = check_spec(spec).partition(":")
    return _OpenAIRewriter(rest, base_url) if kind == "openai" else _HFRewriter(rest)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/toolgym/paraphrase`` (``~/.cache/toolgym/paraphrase`` when unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "toolgym" / "paraphrase"


def _contains(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` as whole words, ignoring case."""
    pattern = r"(?<!\w)" + re.escape(phrase.strip().lower()) + r"(?!\w)"
    return re.search(pattern, text.lower()) is not None


def needed_entities(scenario: Scenario) -> list[str]:
    """The entities a rewrite must keep: string arguments of gold calls that depend on no earlier
    step and that the question names (a chain's first key, each parallel lookup's key)."""
    found: dict[str, None] = {}
    for sub in scenario.subtasks:
        if sub.call is None or sub.depends_on:
            continue
        for value in sub.call.arguments.values():
            if isinstance(value, str) and value.strip() and _contains(scenario.question, value):
                found[value] = None
    return list(found)


def keeps_facts(original: str, rewrite: str, entities: Iterable[str], answers: Iterable[str] = ()) -> bool:
    """Whether ``rewrite`` may replace ``original``: non-empty, one paragraph, names every entity,
    and reveals none of ``answers`` that ``original`` does not.

    Example:
        >>> keeps_facts("Who directed 'Blue Dawn'?", "Who was the director of Blue Dawn?", ["Blue Dawn"], ["Ann Lee"])
        True
        >>> keeps_facts("Who directed 'Blue Dawn'?", "Who made it?", ["Blue Dawn"])
        False
    """
    if not rewrite or "\n\n" in rewrite or len(rewrite) > 4 * len(original) + 200:
        return False
    if not all(_contains(rewrite, entity) for entity in entities):
        return False
    return not any(_contains(rewrite, a) and not _contains(original, a) for a in answers if a.strip())


def _clean(text: str) -> str:
    """The rewrite without a label (``Rewritten question:``) or wrapping quotes."""
    text = _LABEL.sub("", text.strip()).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


class _Cache:
    """Rewrites on disk, one JSON file per (scenario id, model, kind, original text)."""

    def __init__(self, folder: str | None) -> None:
        self.folder = Path(folder) if folder else default_cache_dir()

    def _path(self, key: list[str]) -> Path:
        digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()
        return self.folder / digest[:2] / f"{digest}.json"

    def get(self, key: list[str]) -> str | None:
        path = self._path(key)
        if not path.is_file():
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
        return record["rewrite"] if record.get("key") == key else None

    def put(self, key: list[str], rewrite: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"key": key, "rewrite": rewrite}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)  # atomic: concurrent builders never read half a file


class _Stage:
    """One scenario's rewrites: from the cache, else from the model (made on the first miss)."""

    def __init__(self, config: Any, scenario_id: str) -> None:
        self.spec, self.base_url, self.scenario_id = config.paraphrase, config.paraphrase_base_url, scenario_id
        self.cache = _Cache(config.paraphrase_cache)

    def rewrite(self, kind: str, system: str, text: str) -> str:
        key = [self.scenario_id, self.spec, kind, text]
        cached = self.cache.get(key)
        if cached is None:
            cached = make_rewriter(self.spec, self.base_url)(system, text)
            self.cache.put(key, cached)
        return _clean(cached)


def _tool(stage: _Stage, tool: Tool) -> Tool | None:
    """The tool with its description rewritten, or None when the rewrite loses a protected token."""
    original = tool.doc.description
    if not original.strip():
        return None
    rewrite = stage.rewrite(f"tool:{tool.name}", TOOL_PROMPT, original)
    protected = _PROTECTED.findall(original)
    if not rewrite or "\n\n" in rewrite or not all(token in rewrite for token in protected):
        return None
    return tool.model_copy(update={"doc": tool.doc.model_copy(update={"description": rewrite})})


def paraphrase_scenario(scenario: Scenario, config: Any) -> Scenario:
    """The scenario with its question (and, with ``paraphrase_tools``, its tool descriptions)
    rewritten by ``config.paraphrase``, where a rewrite passes the checks (see the module docstring).

    Raises:
        BackendError: the model server kept failing (an infrastructure fault, never the scenario's).
    """
    stage = _Stage(config, scenario.id)
    rewrite = stage.rewrite("question", QUESTION_PROMPT, scenario.question)
    answers = [sub.answer for sub in scenario.subtasks] + [scenario.answer]
    kept = keeps_facts(scenario.question, rewrite, needed_entities(scenario), answers)
    question = rewrite if kept else scenario.question
    tools, rewritten = list(scenario.tools), 0
    if config.paraphrase_tools:
        for i, tool in enumerate(tools):
            new = _tool(stage, tool)
            if new is not None:
                tools[i], rewritten = new, rewritten + 1
    record = {"model": config.paraphrase, "question": kept, "original_question": scenario.question, "tools": rewritten}
    messages = tuple({**m, "content": question} if m.get("role") == "user" and m.get("content") == scenario.question
                     else m for m in scenario.messages)
    return scenario.model_copy(update={
        "question": question, "messages": messages, "tools": tuple(tools), "meta": {**scenario.meta, "paraphrase": record},
    })
