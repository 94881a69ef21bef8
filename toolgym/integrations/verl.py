"""verl, FTRL's training stack: ToolGym scenarios as verl training rows, and verl's reward hook.

**Rows** (:func:`verl_rows`, ``toolgym export --format verl``) follow verl's dataset convention,
one row per prompt to complete:

* ``data_source``: ``toolgym/<shape>`` for generated scenarios, the row's own for FTRL rows;
* ``prompt``: the chat so far (verl's ``data.prompt_key``). Every message has the keys ``role``,
  ``content``, ``tool_calls`` (arguments as JSON text, as OpenAI and FTRL write them),
  ``tool_call_id`` and ``name``, None where unset: Arrow stores one type per column;
* ``ability``: ``"tool_use"``; ``reward_model``: ``{"style": "rule", "ground_truth": answer}``;
* ``extra_info``: ``index``, ``id``, ``turn`` (tool rounds before the prompt), ``scenario``
  (the whole scenario as JSON) and ``actions`` (the assistant turns that lead to the prompt);
* FTRL's columns, which FTRL's verl fork reads: ``tools`` (JSON), ``codes`` (JSON),
  ``unsolved_set`` (the sub-answers still unobtained at the prompt, JSON), ``solve_rate``,
  ``split`` and ``answer``.

With ``prefixes`` a scenario gives one row per per-turn prefix of its oracle transcript, as FTRL
trains: the opening prompt, then the chat after every tool round. With ``tools_in_prompt`` the
tool schemas are also written into the system message, for trainers that render ``prompt``
without the ``tools`` column (stock verl does).

**Reward**: :func:`compute_score` has the signature of verl's ``custom_reward_function``. It
rebuilds the scenario from ``extra_info``, resets an env at the prefix (replaying ``actions``) and
steps the response, so the score is the env's own per-turn reward (FTRL's formula through
:mod:`toolgym.reward` and the tool sandbox). verl's settings::

    custom_reward_function.path=$(python -c "import toolgym.integrations.verl as m; print(m.__file__)")
    custom_reward_function.name=compute_score
    +custom_reward_function.reward_kwargs.variant=f1   # or precision, rate, pr
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from toolgym.error import InvalidScenario, SuiteError, ToolGymError
from toolgym.ftrl import scenario_from_ftrl, scenario_to_ftrl
from toolgym.rows import dumps
from toolgym.scenario import Scenario

__all__ = [
    "ABILITY",
    "TOOLS_PROMPT",
    "VERL_COLUMNS",
    "compute_score",
    "export_verl",
    "verl_rows",
]

ABILITY = "tool_use"
"""The ``ability`` of every exported row."""

VERL_COLUMNS = (
    "data_source", "prompt", "ability", "reward_model", "extra_info",
    "tools", "codes", "unsolved_set", "solve_rate", "split", "answer",
)
"""The columns of an exported row, in order: verl's, then FTRL's."""

TOOLS_PROMPT = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{tools}\n</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}}\n</tool_call>"
)
"""The tool block ``tools_in_prompt`` writes into the system message (the Hermes/Qwen wording)."""

_END_TOKENS = ("<|endoftext|>", "<|im_end|>")
"""Suffixes FTRL's reward strips from a response decoded with its special tokens, in its order."""


# -- rows ---------------------------------------------------------------------------------------


def _chat_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message with the keys every ``prompt`` message has (see the module docstring)."""
    content = message.get("content")
    calls = []
    for call in message.get("tool_calls") or ():
        fn = call.get("function", call)
        arguments = fn.get("arguments")
        text = arguments if isinstance(arguments, str) else dumps(arguments if arguments is not None else {})
        calls.append({"id": str(call.get("id") or ""), "type": "function",
                      "function": {"name": str(fn.get("name") or ""), "arguments": text}})
    return {
        "role": str(message.get("role", "")),
        "content": content if isinstance(content, str) else "" if content is None else dumps(content),
        "tool_calls": calls or None,
        "tool_call_id": message.get("tool_call_id"),
        "name": message.get("name"),
    }


def _with_tools(messages: Sequence[dict[str, Any]], tool_docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with the tool schemas in the system message (one is added when there is none)."""
    block = TOOLS_PROMPT.format(tools="\n".join(dumps(doc) for doc in tool_docs))
    if messages and messages[0]["role"] == "system":
        return [{**messages[0], "content": f"{messages[0]['content']}\n\n{block}"}, *messages[1:]]
    return [_chat_message({"role": "system", "content": block}), *messages]


def _prefix_ends(scenario: Scenario, record: Mapping[str, Any]) -> list[tuple[int, dict[str, list[str]]]]:
    """After each tool round of a transcript: (messages so far, sub-answers still unobtained).

    Drives the one episode scorer over the transcript, as :func:`toolgym.reward.score_trajectory`
    does, keeping its state after every tool round.
    """
    # _turn_outputs: the scorer's own pairing of a turn's calls with its tool messages
    from toolgym.reward import _turn_outputs, make_scorer

    scorer = make_scorer(scenario)
    messages = record["messages"]
    ends = []
    for i, message in enumerate(messages):
        if i < len(scenario.messages) or message.get("role") != "assistant":
            continue
        pairs, tool_turn = _turn_outputs(message, messages[i + 1 :])
        if not tool_turn:
            break
        scorer.tool_turn(pairs, len(message.get("tool_calls") or ()))
        end = i + 1
        while end < len(messages) and messages[end].get("role") == "tool":
            end += 1
        ends.append((end, {k: list(v) for k, v in scorer.unsolved.items()}))
    return ends


def _row(
    scenario: Scenario, ftrl: dict[str, Any], messages: Sequence[Mapping[str, Any]], actions: Sequence[str],
    unsolved: dict[str, list[str]] | None, index: int, tools_in_prompt: bool,
) -> dict[str, Any]:
    """One verl row: the chat ``messages`` to continue, reached by playing ``actions``.

    ``ftrl`` is the scenario's FTRL row (written once per scenario: rendering generated tools as
    source is the slow part of an export).
    """
    ftrl = dict(ftrl)
    if unsolved is not None:  # a prefix: FTRL's remaining sub-answers and solve rate
        total = sum(len(v) for v in scenario.sub_answers().values())
        ftrl["unsolved_set"] = dumps(unsolved)
        ftrl["solve_rate"] = 1 - sum(len(v) for v in unsolved.values()) / total if total else 0.0
    extra = {"index": index, "id": scenario.id, "turn": len(actions),
             "scenario": scenario.model_dump_json(), "actions": [str(a) for a in actions]}
    prompt = [_chat_message(m) for m in messages]
    return {
        "data_source": ftrl["data_source"],
        "prompt": _with_tools(prompt, scenario.tool_docs) if tools_in_prompt else prompt,
        "ability": ABILITY,
        "reward_model": {"style": "rule", "ground_truth": scenario.answer},
        "extra_info": extra,
        **{key: ftrl[key] for key in VERL_COLUMNS[5:]},
    }


def _oracle_record(scenario: Scenario) -> dict[str, Any]:
    """The oracle's episode of ``scenario``, played by the one episode loop."""
    from toolgym.env import ToolUseEnv
    from toolgym.evaluate import play_episode
    from toolgym.oracle import OracleAgent

    env = ToolUseEnv(scenarios=[scenario])
    try:
        record = play_episode(env, OracleAgent(), options={"index": 0})
    except InvalidScenario as exc:
        raise InvalidScenario(f"--prefixes needs oracle transcripts: {exc}") from None
    finally:
        env.close()
    if record["truncated"]:
        raise InvalidScenario(f"The oracle did not finish scenario {scenario.id!r}; its prefixes are not exported.")
    return record


def verl_rows(
    scenario: Scenario, *, prefixes: bool = False, index: int = 0, tools_in_prompt: bool = False
) -> list[dict[str, Any]]:
    """The verl rows of one scenario (see the module docstring for the columns).

    Args:
        scenario: A question scenario (generated, or an FTRL row); stateful tasks have no FTRL row.
        prefixes: Also one row per tool round of the scenario's oracle transcript.
        index: ``extra_info["index"]`` of the first row; later rows count on.
        tools_in_prompt: Also write the tool schemas into the system message of ``prompt``
            (:data:`TOOLS_PROMPT`), for trainers that render ``prompt`` without the ``tools``
            column (stock verl does; FTRL's verl fork passes ``tools`` to the chat template).

    Raises:
        InvalidScenario: a stateful task, or ``prefixes`` for a scenario without gold calls.

    Example:
        >>> from toolgym.generate import generate_suite
        >>> rows = verl_rows(generate_suite(1, seed=0)[0], prefixes=True)
        >>> [row["extra_info"]["turn"] for row in rows], rows[0]["reward_model"]["style"]
        ([0, 1, 2, 3], 'rule')
    """
    if scenario.task is not None:
        raise InvalidScenario(
            f"Scenario {scenario.id!r} is a stateful task (tau-bench): verl rows carry FTRL's question "
            "columns (sub-answers, answer), which it has none of. Export question scenarios."
        )
    ftrl = scenario_to_ftrl(scenario)
    rows = [_row(scenario, ftrl, scenario.messages, [], None, index, tools_in_prompt)]
    if prefixes:
        record = _oracle_record(scenario)
        for k, (end, unsolved) in enumerate(_prefix_ends(scenario, record), start=1):
            messages, actions = record["messages"][:end], record["actions"][:k]
            rows.append(_row(scenario, ftrl, messages, actions, unsolved, index + k, tools_in_prompt))
    return rows


def _iter_rows(scenarios: Iterable[Scenario], prefixes: bool, tools_in_prompt: bool) -> Iterator[dict[str, Any]]:
    index = 0
    for scenario in scenarios:
        rows = verl_rows(scenario, prefixes=prefixes, index=index, tools_in_prompt=tools_in_prompt)
        index += len(rows)
        yield from rows


def export_verl(
    scenarios: Iterable[Scenario], path: str | Path, *, prefixes: bool = False, tools_in_prompt: bool = False
) -> int:
    """Writes the verl rows of ``scenarios`` to ``path`` (see :func:`verl_rows`); returns how many.

    ``.parquet`` writes Parquet (verl's format; needs pyarrow), any other suffix JSONL.

    Raises:
        SuiteError: Parquet without pyarrow.
        InvalidScenario: see :func:`verl_rows`.
    """
    path = Path(path)
    rows = list(_iter_rows(scenarios, prefixes, tools_in_prompt))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() != ".parquet":
        with path.open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        return len(rows)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SuiteError("Writing verl Parquet files needs pyarrow: pip install pyarrow.") from None
    pq.write_table(pa.Table.from_pylist(rows), path)
    return len(rows)


# -- reward -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _scenario(scenario_json: str) -> Scenario:
    return Scenario.model_validate_json(scenario_json)


def _episode_of(ground_truth: Any, extra_info: Mapping[str, Any] | None) -> tuple[Scenario, list[str]]:
    """The scenario and the actions that lead to the prompt, from a row's reward fields."""
    extra = dict(extra_info or {})
    if isinstance(extra.get("scenario"), str):
        scenario = _scenario(extra["scenario"])
        if ground_truth is not None and str(ground_truth) != scenario.answer:
            raise InvalidScenario(
                f"reward_model.ground_truth {str(ground_truth)!r} is not the answer of scenario "
                f"{scenario.id!r} ({scenario.answer!r}); the row was changed after export."
            )
        actions = extra.get("actions")
        return scenario, [str(a) for a in (actions if actions is not None else ())]
    if "unsolved_set" in extra or "codes" in extra:  # FTRL's fields: the remaining sub-answers are the state
        fields = {k: extra[k] for k in ("tools", "codes", "unsolved_set", "data_source") if k in extra}
        return scenario_from_ftrl({"messages": [], **fields, "answer": str(ground_truth)}), []
    raise InvalidScenario(
        "extra_info holds neither a ToolGym scenario ('scenario') nor FTRL's fields ('codes', "
        "'unsolved_set'); write the rows with `toolgym export --format verl`."
    )


_ENVS = threading.local()


def _scoring_env(variant: str, match: str | None) -> Any:
    """This thread's env for ``(variant, match)``, reused across calls (its sandbox worker too)."""
    from toolgym.env import ToolUseEnv

    envs = _ENVS.__dict__.setdefault("envs", {})
    if (variant, match) not in envs:
        envs[variant, match] = ToolUseEnv(reward=variant, match=match)
    return envs[variant, match]


def _strip_end_tokens(text: str) -> str:
    """The response without the end tokens a decode with special tokens leaves (as FTRL strips)."""
    text = text.strip()
    for token in _END_TOKENS:
        text = text.removesuffix(token).strip()
    return text


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    *,
    variant: str = "f1",
    match: str | None = None,
) -> float:
    """verl's ``custom_reward_function``: the env's reward for one response at the row's prefix.

    Args:
        data_source: The row's ``data_source`` (not needed: the scenario says everything).
        solution_str: The model's response, decoded with or without special tokens.
        ground_truth: ``reward_model["ground_truth"]``: the final answer.
        extra_info: The row's ``extra_info``: ``scenario`` and ``actions`` as exported, or FTRL's
            ``tools``, ``codes`` and ``unsolved_set`` (the sub-answers still to obtain).
        variant: FTRL's per-turn reward: ``f1`` (``compute_solve_f1``), ``precision``, ``rate``
            or ``pr``; set it with ``custom_reward_function.reward_kwargs``.
        match: ``"strict"`` or ``"ftrl"``; default: the scenario's own.

    Raises:
        InvalidScenario: the row does not hold a scenario, or its answer was changed.
        InvalidKnob: an unknown ``variant`` or ``match``.

    Example:
        >>> from toolgym.generate import generate_suite
        >>> row = verl_rows(generate_suite(1, seed=0)[0])[0]
        >>> compute_score(row["data_source"], "<answer>no idea</answer><|im_end|>",
        ...               row["reward_model"]["ground_truth"], row["extra_info"])
        0.0
    """
    from toolgym.evaluate import reset_to_prefix

    scenario, actions = _episode_of(ground_truth, extra_info)
    env = _scoring_env(variant, match)
    try:
        reset_to_prefix(env, actions, options={"scenario": scenario})
    except ToolGymError as exc:
        raise InvalidScenario(f"The row's actions do not replay on scenario {scenario.id!r}: {exc}") from None
    _, reward, *_ = env.step(_strip_end_tokens(str(solution_str)))
    return float(reward)
