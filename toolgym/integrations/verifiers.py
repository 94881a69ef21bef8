"""verifiers (``vf-eval``, prime-rl): ToolGym scenarios as a verifiers multi-turn environment.

:func:`load_environment` returns a ``vf.MultiTurnEnv`` whose rows carry each scenario's opening
prompt and, in ``info``, its own tool schemas (``tool_defs``: tool sets differ per scenario) and
the scenario itself. Each rollout plays its own ToolGym env: every model turn (native tool calls,
or text) is stepped through the env, the tool results come back as tool messages answering the
model's own ``tool_call_id``s, the per-turn reward is the trajectory step's ``reward``, and the
rollout stops when the env terminates or truncates. The rubric's reward is the episode's return
(the sum of ToolGym's per-turn rewards); its metrics are Solve-P/R/F1 and answer correctness, as
``toolgym eval`` reports them.

Needs ``pip install -e .[verifiers]``: the classic ``verifiers`` API (``MultiTurnEnv``, ``Rubric``,
``vf-eval``), which ``verifiers`` 0.1.9 to 0.3.x provide (0.4 replaced it with ``verifiers.v1``).
``vf-eval toolgym.integrations.verifiers -a '{"n": 20}' -m MODEL -b http://127.0.0.1:8000/v1``
evaluates a served model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import verifiers as vf

if not hasattr(vf, "MultiTurnEnv"):  # verifiers 0.4 kept only its new stack, verifiers.v1
    raise ImportError(
        f"toolgym.integrations.verifiers needs verifiers' classic API (MultiTurnEnv, Rubric), which "
        f"verifiers {getattr(vf, '__version__', '?')} lacks: pip install 'verifiers>=0.1.9,<0.4' "
        "(or pip install -e .[verifiers])."
    )

from toolgym.env import ToolUseEnv  # noqa: E402
from toolgym.error import InvalidKnob  # noqa: E402
from toolgym.evaluate import episode_record  # noqa: E402
from toolgym.scenario import Scenario  # noqa: E402

__all__ = ["METRICS", "ToolGymMultiTurnEnv", "load_environment", "rows_of", "toolgym_rubric"]

METRICS = ("solve_precision", "solve_rate", "solve_f1", "answer_correct")
"""The rubric's metrics (weight 0), keys of the episode record (:func:`toolgym.evaluate.episode_record`)."""


def rows_of(scenarios: Sequence[Scenario]) -> Any:
    """A ``datasets.Dataset`` of rows: ``prompt``, ``answer`` and ``info`` (JSON text
    holding ``tool_defs``, the scenario's tools in verifiers' format, and ``scenario``)."""
    from datasets import Dataset

    rows = []
    for scenario in scenarios:
        tool_defs = [{"name": t.doc.name, "description": t.doc.description, "parameters": t.doc.parameters}
                     for t in scenario.tools]
        rows.append({
            "prompt": [{"role": str(m.get("role")), "content": str(m.get("content") or "")} for m in scenario.messages],
            "answer": scenario.answer,
            "info": json.dumps({"tool_defs": tool_defs, "scenario": scenario.model_dump_json()}, ensure_ascii=False),
        })
    return Dataset.from_list(rows)


def _action(message: Any) -> dict[str, Any]:
    """The model's assistant message as ToolGym's action (an OpenAI-style message dict)."""
    calls = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
             for c in getattr(message, "tool_calls", None) or ()]
    content = getattr(message, "content", None)
    text = content if isinstance(content, str) else "" if content is None else json.dumps(content, default=str)
    return {"role": "assistant", "content": text, **({"tool_calls": calls} if calls else {})}


def _replies(call_ids: Sequence[str], tool_messages: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The env's tool messages answering the model's calls by their ids, in order.

    The env answers call ``i`` with its ``i``-th tool message. Tool messages beyond the model's
    native calls (calls it wrote as text, or the env's note on calls past its per-turn limit)
    answer no id, so they come back together as one user message and the chat stays valid.
    """
    replies: list[Any] = [vf.ToolMessage(tool_call_id=call_id, content=str(m.get("content", "")))
                          for call_id, m in zip(call_ids, tool_messages, strict=False)]
    rest = [f"[{m.get('name', 'tool')}] {m.get('content', '')}" for m in tool_messages[len(call_ids):]]
    if rest:
        replies.append(vf.UserMessage(content="Tool results:\n" + "\n".join(rest)))
    return replies


class ToolGymMultiTurnEnv(vf.MultiTurnEnv):
    """A verifiers multi-turn environment that plays a ToolGym env per rollout.

    Args:
        env_kwargs: ``ToolUseEnv`` options for every rollout (``reward``, ``match``,
            ``max_output_chars``, ``sandbox``); ``max_turns`` is the env's turn limit too.
        **kwargs: ``vf.MultiTurnEnv`` arguments (``dataset``, ``eval_dataset``, ``rubric``, ...).
    """

    def __init__(self, env_kwargs: dict[str, Any] | None = None, max_turns: int = 20, **kwargs: Any) -> None:
        self.env_kwargs = dict(env_kwargs or {})
        self._envs: dict[str, ToolUseEnv] = {}
        super().__init__(max_turns=max_turns, **kwargs)

    async def setup_state(self, state: vf.State) -> vf.State:
        scenario = Scenario.model_validate_json(state["info"]["scenario"])
        env = ToolUseEnv(scenarios=[scenario], max_turns=self.max_turns, **self.env_kwargs)
        obs, info = env.reset(options={"index": 0})
        self._envs[state["trajectory_id"]] = env
        state["toolgym"] = {"rewards": [], "actions": [], "info": info, "messages": obs["messages"],
                            "done": False, "terminated": False, "replies": []}
        return await super().setup_state(state)

    async def add_trajectory_step(self, state: vf.State, trajectory_step: Any) -> None:
        """Steps the ToolGym env with the model's turn; its reward becomes the step's reward."""
        episode, env = state["toolgym"], self._envs[state["trajectory_id"]]
        message = trajectory_step["completion"][-1]
        action = _action(message)
        before = len(episode["messages"])
        obs, reward, terminated, truncated, info = env.step(action)
        episode["actions"].append(action)
        episode["rewards"].append(float(reward))
        episode.update(info=info, messages=obs["messages"], done=terminated or truncated, terminated=terminated)
        tool_messages = [m for m in obs["messages"][before + 1 :] if m.get("role") == "tool"]
        episode["replies"] = _replies([c["id"] for c in action.get("tool_calls", ())], tool_messages)
        trajectory_step["reward"] = float(reward)
        await super().add_trajectory_step(state, trajectory_step)

    async def env_response(self, messages: vf.Messages, state: vf.State, **kwargs: Any) -> vf.Messages:
        """The tool results of the model's last turn, answering its tool calls by id."""
        return state["toolgym"]["replies"]

    @vf.stop(priority=50)  # before verifiers' own turn limit, which is the env's
    async def toolgym_episode_over(self, state: vf.State) -> bool:
        """The ToolGym env terminated (a final answer) or truncated (its turn limit)."""
        episode = state.get("toolgym")
        return bool(episode and episode["done"])

    @vf.cleanup
    async def close_toolgym_env(self, state: vf.State) -> None:
        """Keeps the episode's record (the rubric reads it) and closes the rollout's env."""
        env = self._envs.pop(state.get("trajectory_id", ""), None)
        episode = state.get("toolgym")
        if env is None or not episode:
            return
        episode["record"] = episode_record(env, episode["actions"], episode["rewards"], episode["info"],
                                           episode["messages"], terminated=episode["terminated"])
        env.close()


def _record(state: Mapping[str, Any]) -> Mapping[str, Any]:
    return (state.get("toolgym") or {}).get("record") or {}


async def toolgym_reward(state: vf.State) -> float:
    """The episode's return: the sum of ToolGym's per-turn rewards."""
    return float(_record(state).get("return", 0.0))


def _metric(name: str) -> Any:
    async def metric(state: vf.State) -> float:
        value = _record(state).get(name)
        return 0.0 if value is None else float(value)

    metric.__name__ = name
    metric.__doc__ = f"The episode's {name} (0 where it does not apply)."
    return metric


def toolgym_rubric() -> vf.Rubric:
    """ToolGym's reward (weight 1) and its figures as metrics (weight 0)."""
    rubric = vf.Rubric(funcs=[toolgym_reward], weights=[1.0])
    for name in METRICS:
        rubric.add_metric(_metric(name))
    return rubric


def _scenarios(suite: str | None, n: int, seed: int, knobs: dict[str, Any]) -> list[Scenario]:
    if suite is None:
        from toolgym.generate import GenerateConfig, generate_suite

        return generate_suite(n, seed, GenerateConfig.from_kwargs(**knobs))
    if knobs:
        raise InvalidKnob(f"Generator knobs {sorted(knobs)} do not apply to suite={suite!r}; drop them.")
    from toolgym.cli import load_scenarios

    return load_scenarios(suite)


def load_environment(
    suite: str | None = None, n: int = 200, seed: int = 0, eval_suite: str | None = None,
    reward: str = "f1", match: str | None = None, max_turns: int = 20, max_output_chars: int = 4096,
    sandbox: dict[str, Any] | None = None, **knobs: Any,
) -> ToolGymMultiTurnEnv:
    """A verifiers environment of ToolGym scenarios (``vf-eval toolgym.integrations.verifiers``).

    Args:
        suite: A suite file (ToolGym or FTRL rows) or ``gen:N:SEED``; None: ``n`` scenarios
            generated from ``seed`` with the generator ``knobs``.
        n: Scenarios to generate when ``suite`` is None.
        seed: Their seed.
        eval_suite: The evaluation rows (a suite as ``suite``); None: the training rows.
        reward: ToolGym's per-turn reward variant (``f1``, ``precision``, ``rate``, ``pr``).
        match: ``"strict"`` or ``"ftrl"``; None: each scenario's own.
        max_turns: Turns per rollout.
        max_output_chars: Tool outputs are cut past this.
        sandbox: Options of the sandbox for tools given as source.
        **knobs: Generator knobs (``shapes``, ``distractors``, ...).

    Example:
        >>> env = load_environment(n=4, shapes=["single_hop"])
        >>> len(env.get_dataset()), json.loads(env.get_dataset()[0]["info"])["tool_defs"][0]["name"]  # doctest: +ELLIPSIS
        (4, '...')
    """
    scenarios = _scenarios(suite, n, seed, knobs)
    evaluation = _scenarios(eval_suite, 0, 0, {}) if eval_suite is not None else scenarios
    env_kwargs = {"reward": reward, "match": match, "max_output_chars": max_output_chars, "sandbox": sandbox}
    ToolUseEnv(scenarios=scenarios[:1], **env_kwargs).close()  # a bad option raises now
    return ToolGymMultiTurnEnv(
        env_kwargs=env_kwargs, max_turns=max_turns, dataset=rows_of(scenarios),
        eval_dataset=rows_of(evaluation), rubric=toolgym_rubric(),
    )
