"""The env's ``fault_rate``: transient, retryable tool failures, deterministic under the seed."""

from __future__ import annotations

import gymnasium as gym
import pytest

import toolgym  # noqa: F401 - registers the ids
from toolgym.error import InvalidKnob
from toolgym.evaluate import evaluate
from toolgym.oracle import OracleAgent, format_calls

KNOBS = {"shapes": ("parallel_single_hop",), "distractors": 0, "optional_params": 0}


def _gold_turn(env: gym.Env) -> str:
    return format_calls([sub.call for sub in env.unwrapped.scenario.subtasks[:1]])


def _fault_trace(seed: int, rate: float, calls: int = 12) -> list[bool]:
    """Which of ``calls`` repeats of the first gold call failed (repeats after a fault are retries)."""
    env = gym.make("ToolGym/Scenario-v0", fault_rate=rate, max_episode_steps=50, **KNOBS)
    env.reset(seed=seed)
    trace = []
    for _ in range(calls):
        obs, _, _, _, info = env.step(_gold_turn(env))
        trace.append(not obs["messages"][-1]["ok"])
    env.close()
    return trace


def test_faults_are_deterministic_under_the_seed():
    traces = {seed: _fault_trace(seed, 0.5) for seed in range(6)}
    assert all(_fault_trace(seed, 0.5) == trace for seed, trace in traces.items())
    assert any(any(trace) for trace in traces.values())
    assert len({tuple(trace) for trace in traces.values()}) > 1


def test_a_failed_call_succeeds_when_retried():
    for seed in range(10):
        trace = _fault_trace(seed, 0.9, calls=4)
        assert trace.count(True) <= 1  # the same call never fails twice in an episode
        if trace[0]:
            assert trace[1] is False


def test_a_fault_earns_no_credit_and_says_it_is_transient():
    env = gym.make("ToolGym/Scenario-v0", fault_rate=0.99, **KNOBS)
    env.reset(seed=3)
    obs, reward, _, _, info = env.step(_gold_turn(env))
    message = obs["messages"][-1]
    assert message["ok"] is False and "transient" in message["content"] and "retry" in message["content"]
    assert reward == 0.0 and info["solved"] == 0 and info["faults"] == 1
    obs, reward, _, _, info = env.step(_gold_turn(env))
    assert obs["messages"][-1]["ok"] is True and info["solved"] == 1 and reward > 0


def test_fault_rate_zero_leaves_scenarios_and_play_unchanged():
    plain = gym.make("ToolGym/Scenario-v0", **KNOBS)
    faulty = gym.make("ToolGym/Scenario-v0", fault_rate=0.5, **KNOBS)
    for seed in range(5):
        plain.reset(seed=seed)
        faulty.reset(seed=seed)
        assert plain.unwrapped.scenario == faulty.unwrapped.scenario
        plain.reset()
        faulty.reset()
        assert plain.unwrapped.scenario == faulty.unwrapped.scenario


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, True, "0.1", None])
def test_a_bad_fault_rate_raises_with_the_range(bad):
    with pytest.raises(InvalidKnob, match="fault_rate"):
        gym.make("ToolGym/Scenario-v0", fault_rate=bad)


class _NoRetry(OracleAgent):
    """The gold turns by count, never retrying a failed call."""

    def act(self, observation, env=None):
        scenario = (env or self.env).unwrapped.scenario
        turns = [format_calls(sub.call for sub in scenario.subtasks if not sub.depends_on),
                 format_calls(sub.call for sub in scenario.subtasks if sub.depends_on),
                 f"<answer>{scenario.answer}</answer>"]
        played = sum(1 for m in observation["messages"] if m["role"] == "assistant")
        return turns[min(played, 2)]


def test_the_summary_reports_recovery_of_faulted_episodes():
    def play(agent):
        env = gym.make("ToolGym/Scenario-v0", fault_rate=0.3, **KNOBS)
        return evaluate(env, agent, limit=30, seed=0, progress=False)

    retrying, giving_up = play(OracleAgent()), play(_NoRetry())
    for report in (retrying, giving_up):
        faulted = [e for e in report.episodes if e["faults"]]
        assert faulted and report.overall["faulted_episodes"] == len(faulted)
    assert retrying.overall["recovery_rate"] == 1.0  # the oracle makes a failed call again
    assert giving_up.overall["recovery_rate"] == 0.0  # a sub-answer stays missing
    assert "recovery: 0.0%" in giving_up.table()
    clean = evaluate(gym.make("ToolGym/Scenario-v0", **KNOBS), OracleAgent(), limit=5, seed=0,
                     progress=False)
    assert "recovery_rate" not in clean.overall
