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
import numpy as np

from toolgym.error import InvalidKnob, ToolGymError, did_you_mean
from toolgym.reward import REWARD_VARIANTS, EpisodeScorer, StatefulScorer, TurnScore, make_scorer
from toolgym.scenario import ReplyGrading, Scenario, SourceImpl
from toolgym.spaces import AssistantTurn, Conversation
from toolgym.tools.parsing import ParsedCall, ParsedTurn, Parser, get_parser, parse_message
from toolgym.tools.reasoning import split_reasoning
from toolgym.tools.result import ToolResult
from toolgym.tools.runtime import ToolRunner
from toolgym.tools.validation import ArgumentValidator
from toolgym.users import STOP, TRANSFER_TOOLS, Dialogue, resolve_user

__all__ = ["ToolUseEnv", "make_suite_env", "suite_turn_limit", "transcript"]

MAX_CALLS_PER_TURN = 32
_FAULT_STREAM = 0xFA17  # second word of the fault stream's seed, after the reset seed


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
    was obtained but the answer is wrong, -0.5 when empty, -0.3 for malformed tool calls. A stateful
    task's turn that ends the episode scores pass^1 (1 or 0; -0.5 for an empty reply); a reply the
    conversation goes on after scores 0 (-0.5 when empty); its tool turns 0 (it has no sub-answers).

    ## Episode End
    Terminates on a turn without tool calls (the final answer); a scenario graded on one reply
    (RoTBench) terminates after that reply. A stateful task (tau-bench) is a conversation with a
    simulated user (``user=``, :mod:`toolgym.users`): the user's first message opens the chat, a
    turn without tool calls goes to the user and the user's reply is the next observation; it
    terminates when that reply contains ``###STOP###`` or when the agent calls
    ``transform_to_user_agent`` or ``transfer_to_human_agents``. Under ``match="ftrl"`` only the
    first tool call of a stateful turn runs (FTRL's ``one_tool_only=True``). Truncated by
    ``TimeLimit`` after ``max_episode_steps`` turns (20 by default, as in FTRL), and by the env at
    ``max_turns`` or else the scenario's own limit (FTRL's per-benchmark defaults: ToolHop 9,
    RoTBench 1, tau-bench 30; ``max_episode_steps=suite_turn_limit(scenarios)`` lets the longest
    through).

    Text inside ``<think>...</think>`` is reasoning: never parsed for tool calls or answers, kept
    in the assistant message as ``reasoning_content``.

    ## Arguments
    * ``scenarios``: a sequence of scenarios to play (else ``path``, else generated ones).
    * ``path``: a suite file (JSONL or parquet; ToolGym or FTRL rows).
    * ``reward``: ``"f1"`` (default), ``"precision"``, ``"rate"`` or ``"pr"``.
    * ``match``: ``"strict"`` or ``"ftrl"``; default: each scenario's own.
    * ``tool_format``: ``"hermes"`` (default) or a callable ``str -> ParsedTurn``.
    * ``max_output_chars``: tool outputs are truncated past this (default 4096).
    * ``sandbox``: options for the sandbox that runs tools given as source (``timeout``, ...).
    * ``max_turns``: turns per episode for every scenario (default: each scenario's own limit).
    * ``user``: the simulated user of stateful tasks: None (the offline scripted user: it states
      its request, answers questions about the facts of its instruction, says it does not know
      the rest, and stops at the first reply that asks nothing), a spec (``"openai:MODEL"``,
      ``"hf:PATH"``), a :class:`toolgym.users.UserSimulator` or a callable
      ``(instruction, dialogue) -> str``.
    * ``fault_rate``: the chance (0 to <1) that a valid tool call fails with a transient,
      retryable error instead of running (the tool is not run, state is unchanged). The same call
      never fails twice in an episode, so retrying it always works; deterministic under the
      reset seed; ``info["faults"]`` counts the episode's faults. Default 0: no faults, no draws.
    * ``render_mode``: ``"ansi"`` for a text transcript.
    * any knob of :class:`toolgym.generate.GenerateConfig` (``shapes``, ``distractors``, ...).

    ``reset(options=...)`` takes ``{"index": i}`` (a suite's i-th scenario) and
    ``{"scenario": Scenario}``. To resume at a prefix of an episode, use
    :func:`toolgym.evaluate.reset_to_prefix`, which steps the earlier turns through every wrapper.

    Tool messages carry ``ok`` (False when the call failed: unknown tool, bad arguments, the tool
    raised or timed out), which chat templates ignore and :func:`toolgym.reward.score_trajectory`
    reads.

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
        max_turns: int | None = None,
        render_mode: str | None = None,
        user: Any = None,
        fault_rate: float = 0.0,
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
        if max_turns is not None and (isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1):
            raise InvalidKnob(f"max_turns must be a positive int or None, got {max_turns!r}.")
        self.max_turns = max_turns
        self.fault_rate = _check_fault_rate(fault_rate)
        self._fault_rng: np.random.Generator | None = None
        self._faulted: set[str] = set()
        self.user = resolve_user(user)
        self.reward_variant = reward
        self.match = match
        self.render_mode = render_mode
        self._parse = get_parser(tool_format)
        self._scenarios, self._config = self._scenario_source(scenarios, path, knobs)
        self._knobs = dict(knobs)
        self._runner = ToolRunner(max_output_chars=max_output_chars, sandbox_options=sandbox)
        self.observation_space = Conversation()
        self.action_space = AssistantTurn()
        self.scenario: Scenario | None = None
        self._messages: list[dict[str, Any]] = []
        self._dialogue: Dialogue | None = None
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
    def sandbox_isolation(self) -> str | None:
        """How tools given as source ran: ``"os"`` (bubblewrap), ``"process"``, or None (none ran)."""
        return self._runner.isolation

    @property
    def scenarios(self) -> list[Scenario] | None:
        """The suite's scenarios, in order (None for a generator env)."""
        return self._scenarios

    @property
    def generator_config(self) -> Any:
        """The builder's knobs (a :class:`toolgym.generate.GenerateConfig`); None for a suite env."""
        return self._config

    def set_knobs(self, **knobs: Any) -> None:
        """Changes generator knobs from the next reset on (:class:`toolgym.wrappers.Curriculum` moves
        ``difficulty`` this way). A knob set here replaces the one the env was made with; the others
        stay, and still win over a ``difficulty`` preset.

        Raises:
            InvalidKnob: the env plays a suite, or a knob is bad (the env then keeps its knobs).
        """
        if self._config is None:
            raise InvalidKnob("set_knobs changes the builder's knobs; this env plays a suite, which has none.")
        from toolgym.generate import GenerateConfig

        merged = {**self._knobs, **knobs}
        self._config = GenerateConfig.from_kwargs(**merged)
        self._knobs = merged

    # -- episode -----------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        self.scenario = self._pick_scenario(options)
        if self.fault_rate and (seed is not None or self._fault_rng is None):
            # Faults draw from their own stream, so the scenarios do not depend on fault_rate.
            self._fault_rng = np.random.default_rng(None if seed is None else [seed, _FAULT_STREAM])
        self._faulted = set()
        self._runner.load(self.scenario, state=self._initial_state())
        self._validator = ArgumentValidator(
            (tool.doc for tool in self.scenario.tools),
            checked=[tool.name for tool in self.scenario.tools if isinstance(tool.impl, SourceImpl)],
        )
        self._scorer: EpisodeScorer = make_scorer(self.scenario, self.reward_variant, self.match)
        self._turn = 0
        self._messages = [dict(m) for m in self.scenario.messages]
        self._done = False
        if "replay" in options:
            raise InvalidKnob(
                "reset(options={'replay': ...}) is gone: replayed turns must count towards the turn "
                "limit, which the env cannot see. Use toolgym.evaluate.reset_to_prefix(env, actions, "
                "options=...), which steps them through every wrapper."
            )
        self._dialogue = None
        if self.scenario.task is not None:
            self._open_dialogue()
        return self._observation(), self._info()

    def _open_dialogue(self) -> None:
        """Starts a stateful task's conversation: the user's first message opens the chat."""
        assert self.scenario is not None
        self._dialogue = Dialogue(self.user, self.scenario.question)
        opening = {"role": "user", "content": self._dialogue.open()}
        if self._messages and self._messages[-1].get("role") == "user":
            self._messages[-1] = opening
        else:
            self._messages.append(opening)

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
        assert self.scenario is not None
        reasoning, text, turn = self._read_action(action)
        self._turn += 1
        single_reply = isinstance(self.scenario.grading, ReplyGrading)
        if turn.has_calls and not single_reply:
            score, terminated = self._tool_turn(turn, reasoning)
        else:  # a reply (a graded single reply is read whole: its calls never run)
            content = text.strip() if single_reply else turn.content
            self._messages.append(_with_reasoning({"role": "assistant", "content": content}, reasoning))
            if self._dialogue is not None:
                score, terminated = self._reply_to_user(content)
            else:
                score, terminated = self._final_turn(content), True
        limit = self.max_turns or self.scenario.max_turns
        truncated = not terminated and limit is not None and self._turn >= limit
        self._done = terminated or truncated
        return self._observation(), float(score.reward), terminated, truncated, self._info()

    def _read_action(self, action: Any) -> tuple[str, str, ParsedTurn]:
        """``(reasoning, text without it, parsed turn)``: think blocks are never parsed."""
        if isinstance(action, str):
            reasoning, text = split_reasoning(action)
            return reasoning, text, self._parse(text)
        if isinstance(action, dict):
            content = action.get("content")
            reasoning, text = split_reasoning(content) if isinstance(content, str) else ("", "")
            given = action.get("reasoning_content")
            if isinstance(given, str) and given.strip():
                reasoning = "\n\n".join(x for x in (given.strip(), reasoning) if x)
            message = {**action, "content": text} if isinstance(content, str) else action
            return reasoning, text, parse_message(message)
        raise TypeError(
            f"The action must be the model's text (str) or an assistant message (dict), "
            f"got {type(action).__name__}."
        )

    def _tool_turn(self, turn: ParsedTurn, reasoning: str) -> tuple[TurnScore, bool]:
        """Runs the turn's calls; returns its score and whether it ended the episode (a transfer)."""
        one_only = self._dialogue is not None and self._scorer.match == "ftrl"  # FTRL's one_tool_only
        calls = turn.calls[: 1 if one_only else MAX_CALLS_PER_TURN]
        ids = [f"call_{self._turn}_{i}" for i in range(len(calls))]
        self._messages.append(_with_reasoning(self._assistant_message(turn, calls, ids), reasoning))
        outputs: list[tuple[str, ToolResult]] = []
        for call_id, call in zip(ids, calls, strict=True):
            result = self._run_call(call)
            name = call.name or "invalid_tool_call"
            self._messages.append(_tool_message(call_id, name, result))
            if call.ok:
                outputs.append((name, result))
        if not one_only and len(turn.calls) > MAX_CALLS_PER_TURN:
            skipped = len(turn.calls) - MAX_CALLS_PER_TURN
            note = ToolResult.error(f"at most {MAX_CALLS_PER_TURN} calls per turn; {skipped} skipped.")
            self._messages.append(_tool_message(f"call_{self._turn}_skipped", "invalid_tool_call", note))
        parsed = sum(1 for call in calls if call.ok)
        if self._dialogue is not None and any(call.ok and call.name in TRANSFER_TOOLS for call in calls):
            return self._final_turn(turn.content, calls=parsed), True
        return self._scorer.tool_turn(outputs, parsed), False

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

    def _run_call(self, call: ParsedCall) -> ToolResult:
        assert self.scenario is not None
        if not call.ok:
            return ToolResult.error(f"could not read the tool call: {call.error}.")
        names = [tool.name for tool in self.scenario.tools]
        if call.name not in names:
            return ToolResult.error(
                f"unknown tool {call.name!r}.{did_you_mean(call.name, names)} "
                f"Available tools: {', '.join(names)}."
            )
        problem = self._validator.check(call.name, call.arguments)
        if problem is not None:
            return ToolResult.error(problem)
        if self._transient_fault(call):
            return ToolResult.error(
                f"{call.name} is temporarily unavailable (transient error 503: the service timed "
                "out). The call was not run; retry the same call."
            )
        return self._runner.call(call.name, call.arguments)

    def _transient_fault(self, call: ParsedCall) -> bool:
        """Whether this valid call fails with a transient error (``fault_rate``); never twice."""
        if not self.fault_rate or self._fault_rng is None:
            return False
        key = json.dumps([call.name, call.arguments], sort_keys=True, default=str)
        fails = bool(self._fault_rng.random() < self.fault_rate) and key not in self._faulted
        if fails:
            self._faulted.add(key)
        return fails

    def _final_turn(self, content: str, calls: int = 0) -> TurnScore:
        state = self._runner.get_state() if self.scenario and self.scenario.task is not None else None
        return self._scorer.final_turn(content, state=state, messages=self._messages, calls=calls)

    def _reply_to_user(self, content: str) -> tuple[TurnScore, bool]:
        """A stateful task's reply goes to the user, whose answer joins the chat; ``###STOP###`` ends it."""
        assert self._dialogue is not None and isinstance(self._scorer, StatefulScorer)
        answer = self._dialogue.answer(content)
        self._messages.append({"role": "user", "content": answer})
        if STOP in answer:
            return self._final_turn(content), True
        return self._scorer.reply_turn(content), False

    # -- views -------------------------------------------------------------------------------

    def _observation(self) -> dict[str, Any]:
        tools = self.scenario.tool_docs if self.scenario is not None else []
        return {"messages": [dict(m) for m in self._messages], "tools": tools}

    def _info(self) -> dict[str, Any]:
        assert self.scenario is not None
        return {
            "scenario_id": self.scenario.id,
            "shape": self.scenario.shape,
            "turn": self._turn,
            "faults": len(self._faulted),
            **self._scorer.info(),
        }

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return transcript(self._messages)

    def close(self) -> None:
        self._runner.close()


def _with_reasoning(message: dict[str, Any], reasoning: str) -> dict[str, Any]:
    """The assistant message with its reasoning as ``reasoning_content`` (when there is some)."""
    if reasoning:
        message["reasoning_content"] = reasoning
    return message


def _tool_message(call_id: str, name: str, result: ToolResult) -> dict[str, Any]:
    """The tool message of one call; ``ok`` tells a scorer replaying the chat whether it worked."""
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": result.text, "ok": result.ok}


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


def _check_fault_rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise InvalidKnob(f"fault_rate must be a number from 0 up to (not including) 1, got {value!r}.")
    return float(value)


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


def suite_turn_limit(scenarios: Sequence[Scenario], max_turns: int | None = None) -> int:
    """The ``max_episode_steps`` a suite env needs so that ``TimeLimit`` cuts no episode short:
    ``max_turns``, else the longest scenario's own limit (tau-bench's 30, ...; 20 where a scenario
    sets none). The env applies each scenario's own limit itself.

    Example:
        >>> suite_turn_limit([]), suite_turn_limit([], max_turns=5)
        (20, 5)
    """
    from toolgym.registration import MAX_EPISODE_STEPS

    return max_turns or max((s.max_turns or MAX_EPISODE_STEPS for s in scenarios), default=MAX_EPISODE_STEPS)
