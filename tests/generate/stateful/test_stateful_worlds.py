"""Generated stateful worlds: knobs, determinism, the oracle's pass^1, refusals, a random agent."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import toolgym  # noqa: F401  (registers the ids)
from toolgym.agents import RandomAgent
from toolgym.error import InvalidKnob
from toolgym.evaluate import play_episode
from toolgym.generate.stateful import (
    DOMAINS,
    STATEFUL_SHAPES,
    StatefulConfig,
    build_stateful_scenario,
    generate_stateful_suite,
)
from toolgym.oracle import OracleAgent
from toolgym.registration import STATEFUL_IDS
from toolgym.state_hash import state_hash
from toolgym.stateful import fresh_state

SMALL = {"records": 30, "distractors": 1}


@pytest.fixture(scope="module")
def env():
    env = gym.make("ToolGym/Stateful-v0", **SMALL)
    yield env
    env.close()


def play(env, agent, scenario):
    return play_episode(env, agent, options={"scenario": scenario})


def test_unknown_or_out_of_range_knobs_raise_with_a_fix():
    with pytest.raises(InvalidKnob, match="Did you mean 'shop'"):
        StatefulConfig(domains=("shopp",))
    with pytest.raises(InvalidKnob, match="Did you mean 'refusal'"):
        StatefulConfig(shapes=("refusals",))
    with pytest.raises(InvalidKnob, match="writes must be from 2 to 4"):
        StatefulConfig(writes=7)
    with pytest.raises(InvalidKnob, match="Did you mean 'strict'"):
        StatefulConfig(strictness="strickt")
    with pytest.raises(InvalidKnob, match="Did you mean 'records'"):
        gym.make("ToolGym/Stateful-v0", record=50)


def test_the_same_seed_gives_the_same_bytes_in_another_process():
    here = [s.model_dump_json() for s in generate_stateful_suite(4, seed=11)]
    code = ("from toolgym.generate.stateful import generate_stateful_suite as g;"
            "import json; print(json.dumps([s.model_dump_json() for s in g(4, seed=11)]))")
    there = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert here == there
    assert len(set(here)) == 4


@settings(max_examples=24, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), domain=st.sampled_from(sorted(DOMAINS)),
       shape=st.sampled_from(STATEFUL_SHAPES), strictness=st.sampled_from(("lenient", "strict")))
def test_the_oracle_passes_every_goal_with_the_scripted_user(env, seed, domain, shape, strictness):
    config = StatefulConfig(domains=(domain,), shapes=(shape,), strictness=strictness, **SMALL)
    scenario = build_stateful_scenario(np.random.default_rng(seed), config)
    result = play(env, OracleAgent(env), scenario)
    assert result["passed"] is True, result
    task = scenario.task
    changed = state_hash(task.data) != task.target_hash
    assert changed == (shape not in ("refusal", "lookup"))  # refusals and questions change nothing
    assert bool(task.outputs) or shape in ("single_write", "multi_write", "conditional")


def test_the_scripted_user_reveals_the_facts_the_oracle_asks_for(env):
    config = StatefulConfig(domains=("shop",), strictness="strict", **SMALL)
    env.reset(seed=3, options={"scenario": build_stateful_scenario(np.random.default_rng(3), config)})
    obs, *_ = env.step("What is your email address?")
    scenario = env.unwrapped.scenario
    email = dict(scenario.meta["facts"])["email"]
    assert obs["messages"][-1] == {"role": "user", "content": f"My email is {email}."}
    obs, *_ = env.step("And what is your favourite colour?")
    assert obs["messages"][-1]["content"] == "Sorry, I don't know that."
    assert "Facts you know" not in obs["messages"][1]["content"]  # the opening says the request only


def test_a_write_the_policy_forbids_is_refused_and_changes_nothing(env):
    config = StatefulConfig(domains=("shop",), shapes=("refusal",), strictness="lenient", **SMALL)
    for seed in range(20):
        scenario = build_stateful_scenario(np.random.default_rng(seed), config)
        order_id = scenario.task.actions[-1].arguments.get("order_id")
        if order_id and scenario.task.outputs[0] in ("delivered", "processed"):
            break
    env.reset(options={"scenario": scenario})
    call = {"name": "cancel_pending_order", "arguments": {"order_id": order_id, "reason": "no longer needed"}}
    obs, *_ = env.step(f"<tool_call>{json.dumps(call)}</tool_call>")
    message = obs["messages"][-1]
    assert message["ok"] is False and "only pending orders can be cancelled" in message["content"]
    assert env.unwrapped._runner.get_state() == fresh_state(scenario.task)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), domain=st.sampled_from(sorted(DOMAINS)))
def test_every_refused_call_leaves_the_state_unchanged(env, seed, domain):
    """Random calls (writes with made-up arguments, strict writes with a wrong user id) that fail
    never change the data."""
    config = StatefulConfig(domains=(domain,), strictness="strict", **SMALL)
    scenario = build_stateful_scenario(np.random.default_rng(seed), config)
    env.reset(options={"scenario": scenario})
    rng, runner = np.random.default_rng(seed), env.unwrapped._runner
    state = runner.get_state()
    for tool in scenario.tools:
        for i in range(3):
            args = {**scenario.task.actions[-1].arguments, "user_id": "U0001" if i else "nobody"}
            args = {k: v for k, v in args.items() if k in tool.doc.parameters.get("properties", {})}
            result = runner.call(tool.name, args if rng.random() < 0.8 else {})
            after = runner.get_state()
            if not result.ok:
                assert after == state, (tool.name, args, result.text)
            state = after


def test_a_random_agent_almost_never_passes(env):
    suite = generate_stateful_suite(30, seed=5, config=StatefulConfig(**SMALL))
    agent = RandomAgent(seed=0)
    passed = sum(play(env, agent, scenario)["passed"] for scenario in suite)
    assert passed <= 2


@pytest.mark.parametrize("env_id", sorted(STATEFUL_IDS))
def test_every_stateful_id_plays_its_domains_for_30_turns(env_id):
    env = gym.make(env_id, **SMALL)
    try:
        assert env.spec.max_episode_steps == 30
        env.reset(seed=0)
        domains = {env.reset()[1] and env.unwrapped.scenario.meta["domain"] for _ in range(6)}
        expected = STATEFUL_IDS[env_id].get("domains")
        assert domains <= set(expected or DOMAINS)
    finally:
        env.close()


@pytest.mark.parametrize("env_id", ["ToolGym/Stateful-v0", "ToolGym/StatefulLibrary-v0"])
def test_the_stateful_ids_pass_the_gymnasium_checker(env_id):
    from gymnasium.utils.env_checker import check_env

    env = gym.make(env_id, **SMALL)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()
