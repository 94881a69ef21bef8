"""ToolUseEnv: a Gymnasium env over one tool-use scenario per episode.

A thin stateful shell: scenarios come from the builder (:mod:`toolgym.generate`) or a suite file
(:mod:`toolgym.suites`), calls are parsed by :mod:`toolgym.tools.parsing`, checked by
:mod:`toolgym.tools.validation`, run by :mod:`toolgym.tools.runtime`, and scored by
:mod:`toolgym.reward`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from toolgym.error import InvalidKnob, ToolGymError, did_you_mean
from toolgym.reward import (
    ERROR_PREFIX,
    REWARD_VARIANTS,
    TurnScore,
    episode_metrics,
    score_final_turn,
    score_tool_turn,
)
from toolgym.scenario import Scenario
from toolgym.spaces import AssistantTurn, Conversation
from toolgym.tools.parsing import ParsedCall, ParsedTurn, Parser, get_parser, parse_message
from toolgym.tools.runtime import ToolRunner
from toolgym.tools.validation import ArgumentValidator

__all__ = ["ToolUseEnv", "make_suite_env", "transcript"]

MAX_CALLS_PER_TURN = 32


class ToolUseEnv(gym.Env[dict, Any]):
    """A tool-use environment: answer a question by calling local tools.

    ## Description
    Each episode is one :class:`~toolgym.scenario.Scenario`: a question, tools (the needed ones,
    merged and extended with distractors) and sub-answers the tools yield. The agent calls tools
    over several turns and ends by answering in ``<answer>...</answer>``.

    ## Action Space
    :class:`~toolgym.spaces.AssistantTurn`: the model's raw text, with tool calls as
    ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (several per turn allowed), or an
    OpenAI-style assistant message dict with ``tool_calls``.

    ## Observation Space
    :class:`~toolgym.spaces.Conversation`: ``{"messages": [...], "tools": [...]}``, ready for
    ``tokenizer.apply_chat_template(obs["messages"], tools=obs["tools"])``.

    ## Rewards
    FTRL's per-turn reward (:mod:`toolgym.reward`): ``2q/(p+1)`` for a tool turn by default;
    for the final turn ``1/(1+unsolved)`` when the answer is correct, 0.5 when every sub-answer
    was obtained but the answer is wrong, -0.5 when empty, -0.3 for malformed tool calls.

    ## Episode End
    Terminates on a turn without tool calls (the final answer). Truncated by ``TimeLimit`` after
    ``max_episode_steps`` turns (20 by default, as in FTRL).

    ## Arguments
    * ``scenarios``: a sequence of scenarios to play (else ``path``, else generated ones).
    * ``path``: a suite file (JSONL or parquet; ToolGym or FTRL rows).
    * ``reward``: ``"f1"`` (default), ``"precision"``, ``"rate"`` or ``"pr"``.
    * ``match``: ``"strict"`` or ``"ftrl"``; default: each scenario's own.
    * ``tool_format``: ``"hermes"`` (default) or a callable ``str -> ParsedTurn``.
    * ``max_output_chars``: tool outputs are truncated past this (default 4096).
    * ``sandbox``: options for the sandbox that runs tools given as source (``timeout``, ...).
    * ``render_mode``: ``"ansi"`` for a text transcript.
    * any knob of :class:`toolgym.generate.GenerateConfig` (``shapes``, ``distractors``, ...).

    ``reset(options=...)`` takes ``{"index": i}`` (a suite's i-th scenario),
    ``{"scenario": Scenario}`` and ``{"replay": [action, ...]}`` (steps those actions silently, to
    resume at a prefix of an episode).

    ## Version History
    * v0: initial release.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        *,
        scenarios: Sequence[Scenario] | None = None,
        path: str | None = None,
        reward: str = "f1",
        match: str | None = None,
        tool_format: str | Parser = "hermes",
        max_output_chars: int = 4096,
        sandbox: dict[str, Any] | None = None,
        render_mode: str | None = None,
        **knobs: Any,
    ):
        if reward not in REWARD_VARIANTS:
            raise InvalidKnob(
                f"Unknown reward {reward!r}; expected one of {REWARD_VARIANTS}."
                + did_you_mean(reward, REWARD_VARIANTS)
            )
        if match not in (None, "strict", "ftrl"):
            raise InvalidKnob(f"Unknown match {match!r}; expected 'strict' or 'ftrl'.")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise InvalidKnob(f"Unknown render_mode {render_mode!r}; expected None or 'ansi'.")
        if isinstance(max_output_chars, bool) or not isinstance(max_output_chars, int) or max_output_chars < 1:
            raise InvalidKnob(f"max_output_chars must be a positive int, got {max_output_chars!r}.")
        _check_sandbox_options(sandbox)
        self.reward_variant = reward
        self.match = match
        self.render_mode = render_mode
        self._parse = get_parser(tool_format)
        self._scenarios, self._config = self._scenario_source(scenarios, path, knobs)
        self._runner = ToolRunner(max_output_chars=max_output_chars, sandbox_options=sandbox)
        self.observation_space = Conversation()
        self.action_space = AssistantTurn()
        self.scenario: Scenario | None = None
        self._messages: list[dict[str, Any]] = []
        self._done = True

    @staticmethod
    def _scenario_source(scenarios: Sequence[Scenario] | None, path: str | None, knobs: dict):
        if scenarios is not None or path is not None:
            if knobs:
                raise InvalidKnob(
                    f"Generator knobs {sorted(knobs)} do not apply when playing a suite "
                    "(scenarios= or path=); drop them."
                )
            if path is not None:
                from toolgym.suites import load_suite

                scenarios = load_suite(path)
            if not scenarios:
                raise InvalidKnob("The suite holds no scenario; give at least one.")
            return list(scenarios), None
        from toolgym.generate import GenerateConfig

        return None, GenerateConfig.from_kwargs(**knobs)

    @property
    def scenarios(self) -> list[Scenario] | None:
        """The suite's scenarios, in order (None for a generator env)."""
        return self._scenarios

    # -- episode -----------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        self.scenario = self._pick_scenario(options)
        self._match = self.match or self.scenario.match
        self._runner.load(self.scenario, state=self._initial_state())
        self._validator = ArgumentValidator(tool.doc for tool in self.scenario.tools)
        self._unsolved = {k: list(v) for k, v in self.scenario.sub_answers().items()}
        self._total = sum(len(v) for v in self._unsolved.values())
        self._calls = 0
        self._turn = 0
        self._last: TurnScore | None = None
        self._messages = [dict(m) for m in self.scenario.messages]
        self._done = False
        for action in options.get("replay", ()):
            if self._done:
                raise ToolGymError("options['replay'] continues past the end of the episode.")
            self.step(action)
        return self._observation(), self._info()

    def _pick_scenario(self, options: dict[str, Any]) -> Scenario:
        if "scenario" in options:
            scenario = options["scenario"]
            return scenario if isinstance(scenario, Scenario) else Scenario.model_validate(scenario)
        if self._scenarios is None:
            if "index" in options:
                raise InvalidKnob("options['index'] needs a suite (scenarios= or path=).")
            from toolgym.generate import build_scenario

            return build_scenario(self.np_random, self._config)
        if "index" in options:
            index = options["index"]
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self._scenarios):
                raise InvalidKnob(
                    f"options['index'] must be an int in [0, {len(self._scenarios)}), got {index!r}."
                )
            return self._scenarios[index]
        return self._scenarios[int(self.np_random.integers(len(self._scenarios)))]

    def _initial_state(self) -> dict[str, Any] | None:
        if self.scenario is None or self.scenario.task is None:
            return None
        from toolgym.stateful import fresh_state

        return fresh_state(self.scenario.task)

    def step(self, action: Any):
        if self._done:
            raise ToolGymError("The episode has ended; call reset() before step().")
        turn = self._read_action(action)
        self._turn += 1
        if turn.has_calls:
            score = self._tool_turn(turn)
            terminated = False
        else:
            self._messages.append({"role": "assistant", "content": turn.content})
            score = self._final_turn(turn.content)
            terminated = True
        self._last = score
        self._done = terminated
        return self._observation(), float(score.reward), terminated, False, self._info()

    def _read_action(self, action: Any) -> ParsedTurn:
        if isinstance(action, str):
            return self._parse(action)
        if isinstance(action, dict):
            return parse_message(action)
        raise TypeError(
            f"The action must be the model's text (str) or an assistant message (dict), "
            f"got {type(action).__name__}."
        )

    def _tool_turn(self, turn: ParsedTurn) -> TurnScore:
        calls = turn.calls[:MAX_CALLS_PER_TURN]
        parsed = sum(1 for call in calls if call.ok)
        ids = [f"call_{self._turn}_{i}" for i in range(len(calls))]
        self._messages.append(self._assistant_message(turn, calls, ids))
        outputs: list[tuple[str, str]] = []
        for call_id, call in zip(ids, calls, strict=True):
            output = self._run_call(call)
            name = call.name or "invalid_tool_call"
            self._messages.append({"role": "tool", "tool_call_id": call_id, "name": name, "content": output})
            if call.ok:
                outputs.append((name, output))
        if len(turn.calls) > MAX_CALLS_PER_TURN:
            skipped = len(turn.calls) - MAX_CALLS_PER_TURN
            self._messages.append(
                {"role": "tool", "tool_call_id": f"call_{self._turn}_skipped", "name": "invalid_tool_call",
                 "content": f"{ERROR_PREFIX}at most {MAX_CALLS_PER_TURN} calls per turn; {skipped} skipped."}
            )
        self._calls += parsed
        return score_tool_turn(
            self._unsolved,
            outputs,
            parsed,
            all_malformed=not parsed,
            variant=self.reward_variant,
            match=self._match,
        )

    @staticmethod
    def _assistant_message(turn: ParsedTurn, calls: Sequence[ParsedCall], ids: list[str]) -> dict:
        malformed = [call.raw for call in calls if not call.ok]
        content = "\n".join([turn.content, *(f"<tool_call>{raw}</tool_call>" for raw in malformed)])
        tool_calls = [
            {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call_id, call in zip(ids, calls, strict=True)
            if call.ok
        ]
        message: dict[str, Any] = {"role": "assistant", "content": content.strip()}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return message

    def _run_call(self, call: ParsedCall) -> str:
        assert self.scenario is not None
        if not call.ok:
            return f"{ERROR_PREFIX}could not read the tool call: {call.error}."
        names = [tool.name for tool in self.scenario.tools]
        if call.name not in names:
            return (
                f"{ERROR_PREFIX}unknown tool {call.name!r}.{did_you_mean(call.name, names)} "
                f"Available tools: {', '.join(names)}."
            )
        problem = self._validator.check(call.name, call.arguments)
        if problem is not None:
            return ERROR_PREFIX + problem
        return self._runner.call(call.name, call.arguments)

    def _final_turn(self, content: str) -> TurnScore:
        assert self.scenario is not None
        if self.scenario.task is not None:
            from toolgym.stateful import score_stateful

            return score_stateful(self.scenario.task, self._runner.get_state(), self._messages)
        remaining = sum(len(v) for v in self._unsolved.values())
        return score_final_turn(content, self.scenario.answer, remaining, self._match)

    # -- views -------------------------------------------------------------------------------

    def _observation(self) -> dict[str, Any]:
        tools = self.scenario.tool_docs if self.scenario is not None else []
        return {"messages": [dict(m) for m in self._messages], "tools": tools}

    def _info(self) -> dict[str, Any]:
        assert self.scenario is not None
        solved = self._total - sum(len(v) for v in self._unsolved.values())
        metrics = episode_metrics(solved, self._calls, self._total)
        last = self._last
        return {
            "scenario_id": self.scenario.id,
            "shape": self.scenario.shape,
            "turn": self._turn,
            "reward_breakdown": {
                "kind": last.kind if last else None,
                "calls": last.calls if last else 0,
                "newly_solved": last.newly_solved if last else 0,
                "variant": self.reward_variant,
            },
            "solved": solved,
            "calls": self._calls,
            "sub_answers": self._total,
            "solve_precision": metrics.solve_precision,
            "solve_rate": metrics.solve_rate,
            "solve_f1": metrics.solve_f1,
            "answer_correct": bool(last.answer_correct) if last and last.answer_correct is not None else False,
        }

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return transcript(self._messages)

    def close(self) -> None:
        self._runner.close()


def transcript(messages: Sequence[dict[str, Any]]) -> str:
    """A readable text transcript of a chat, tool calls included."""
    lines = []
    for message in messages:
        role = message.get("role", "?")
        label = f"[{role}:{message['name']}]" if role == "tool" else f"[{role}]"
        content = str(message.get("content") or "").strip()
        if content:
            lines.append(f"{label} {content}")
        for call in message.get("tool_calls") or ():
            fn = call["function"]
            args = json.dumps(fn.get("arguments"), ensure_ascii=False)
            lines.append(f"{label} -> {fn['name']}({args})")
    return "\n".join(lines) + "\n"


def _check_sandbox_options(options: dict[str, Any] | None) -> None:
    """Raises InvalidKnob for a ``sandbox=`` option that SandboxRuntime does not take."""
    if options is None:
        return
    if not isinstance(options, dict):
        raise InvalidKnob(f"sandbox must be a dict of SandboxRuntime options, got {type(options).__name__}.")
    import inspect

    from toolgym.tools.sandbox import SandboxRuntime

    valid = [n for n in inspect.signature(SandboxRuntime).parameters if n != "codes"]
    for key in options:
        if key not in valid:
            raise InvalidKnob(
                f"Unknown sandbox option {key!r}; expected some of {valid}.{did_you_mean(key, valid)}"
            )


def make_suite_env(path: str | None = None, **kwargs: Any) -> ToolUseEnv:
    """Entry point of ``ToolGym/Suite-v0``: a :class:`ToolUseEnv` that plays the suite at ``path``."""
    if path is None and kwargs.get("scenarios") is None:
        raise InvalidKnob(
            'ToolGym/Suite-v0 plays a suite file: gym.make("ToolGym/Suite-v0", path="suite.jsonl"). '
            "Make one with `toolgym generate -o suite.jsonl`."
        )
    return ToolUseEnv(path=path, **kwargs)
