import json

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toolgym
from toolgym.error import InvalidKnob, ToolGymError
from toolgym.evaluate import reset_to_prefix
from toolgym.oracle import OracleAgent, oracle_turns
from toolgym.reward import score_trajectory
from toolgym.suites import save_suite

GENERATED_IDS = [i for i in toolgym.ENV_IDS if i != "ToolGym/Suite-v0"]


def play_oracle(env, seed):
    obs, info = env.reset(seed=seed)
    agent = OracleAgent(env)
    rewards, done, truncated = [], False, False
    while not (done or truncated):
        obs, reward, done, truncated, info = env.step(agent.act(obs))
        rewards.append(reward)
    return obs, rewards, info


@pytest.fixture(scope="module")
def suite_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("suite") / "suite.jsonl"
    save_suite(toolgym.generate_suite(5, seed=3, config=toolgym.GenerateConfig()), path)
    return path


@pytest.mark.parametrize("env_id", GENERATED_IDS)
def test_every_generated_id_passes_the_gymnasium_checker(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_the_suite_id_passes_the_gymnasium_checker(suite_path):
    env = gym.make("ToolGym/Suite-v0", path=str(suite_path))
    check_env(env.unwrapped, skip_render_check=True)


def test_the_suite_id_without_a_path_says_how_to_make_one():
    with pytest.raises(InvalidKnob, match="toolgym generate"):
        gym.make("ToolGym/Suite-v0")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), env_id=st.sampled_from(GENERATED_IDS))
def test_the_oracle_solves_every_generated_scenario(seed, env_id):
    env = gym.make(env_id)
    obs, rewards, info = play_oracle(env, seed)
    assert info["solve_f1"] == 1.0 and info["answer_correct"]
    assert rewards[-1] == 1.0 and all(r > 0 for r in rewards)


def test_the_same_seed_gives_the_same_transcript():
    first = play_oracle(gym.make("ToolGym/Scenario-v0"), 42)[0]
    second = play_oracle(gym.make("ToolGym/Scenario-v0"), 42)[0]
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_the_observation_renders_with_tools_and_calls():
    env = gym.make("ToolGym/MultiHop-v0", render_mode="ansi")
    play_oracle(env, 1)
    text = env.render()
    assert "[user]" in text and "->" in text and "<answer>" in text


ACTIONS = st.one_of(
    st.text(max_size=200),
    st.builds(lambda s: f"<tool_call>{s}</tool_call>", st.text(max_size=80)),
    st.builds(
        lambda name, args: "<tool_call>" + json.dumps({"name": name, "arguments": args}) + "</tool_call>",
        st.text(max_size=20),
        st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10) | st.none(), max_size=4),
    ),
    st.dictionaries(st.sampled_from(["role", "content", "tool_calls"]), st.none() | st.text(max_size=20)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=st.lists(ACTIONS, min_size=1, max_size=4), seed=st.integers(0, 1000))
def test_any_action_gives_a_valid_step_and_never_raises(actions, seed):
    env = gym.make("ToolGym/Scenario-v0")
    env.reset(seed=seed)
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs)
        assert isinstance(reward, float) and -0.5 <= reward <= 2.0
        assert isinstance(info["solve_f1"], float)
        if terminated or truncated:
            break


def first_tool(env):
    return env.unwrapped.scenario.tools[0]


def call(name, arguments):
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def test_an_unknown_tool_gets_a_message_listing_the_tools():
    env = gym.make("ToolGym/SingleHop-v0")
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step(call("no_such_tool", {}))
    message = obs["messages"][-1]["content"]
    assert "unknown tool 'no_such_tool'" in message and first_tool(env).name in message
    assert not terminated and reward == 0.0


def test_arguments_that_fail_the_schema_get_a_message_naming_the_problem():
    env = gym.make("ToolGym/SingleHop-v0")
    env.reset(seed=0)
    tool = first_tool(env)
    obs, *_ = env.step(call(tool.name, {"surely_not_an_argument": 1}))
    assert "unexpected argument 'surely_not_an_argument'" in obs["messages"][-1]["content"]
    obs, *_ = env.step(call(tool.name, {}))
    assert "is a required property" in obs["messages"][-1]["content"]


def test_bad_json_scores_the_malformed_penalty_and_the_episode_goes_on():
    env = gym.make("ToolGym/SingleHop-v0")
    env.reset(seed=0)
    obs, reward, terminated, _, _ = env.step("<tool_call>{oops}</tool_call>")
    assert reward == -0.3 and not terminated
    assert "not valid JSON" in obs["messages"][-1]["content"]


def test_huge_outputs_are_truncated_with_a_note():
    env = gym.make("ToolGym/SingleHop-v0", max_output_chars=10)
    obs, _ = env.reset(seed=0)
    gold = env.unwrapped.scenario.subtasks[0].call
    obs, *_ = env.step(call(gold.name, gold.arguments))
    assert "[output truncated" in obs["messages"][-1]["content"]


def test_replay_resumes_an_episode_at_a_prefix_with_the_same_rewards():
    env = gym.make("ToolGym/MultiHop-v0")
    obs, rewards, _ = play_oracle(env, 5)
    actions = [m for m in obs["messages"] if m["role"] == "assistant"]
    scenario = env.unwrapped.scenario
    reset_to_prefix(env, actions[:-1], options={"scenario": scenario})
    _, reward, terminated, _, info = env.step(actions[-1])
    assert terminated and reward == rewards[-1] and info["answer_correct"]


def test_replayed_turns_count_towards_the_turn_limit():
    env = gym.make("ToolGym/SingleHop-v0", max_episode_steps=3)
    useless = call("no_such_tool", {})
    reset_to_prefix(env, [useless, useless], seed=0)
    *_, terminated, truncated, info = env.step(useless)
    assert truncated and not terminated and info["turn"] == 3
    with pytest.raises(ToolGymError, match="ended at turn 3"):
        reset_to_prefix(env, [useless] * 4, seed=0)
    with pytest.raises(InvalidKnob, match="reset_to_prefix"):
        env.reset(options={"replay": [useless]})


def test_tool_messages_say_whether_the_call_worked():
    env = gym.make("ToolGym/SingleHop-v0")
    env.reset(seed=0)
    gold = env.unwrapped.scenario.subtasks[0].call
    obs, *_ = env.step(call(gold.name, gold.arguments) + call("no_such_tool", {}))
    assert [m["ok"] for m in obs["messages"][-2:]] == [True, False]


def test_stepping_after_the_end_raises():
    env = gym.make("ToolGym/SingleHop-v0").unwrapped
    env.reset(seed=0)
    env.step("<answer>x</answer>")
    with pytest.raises(ToolGymError, match="reset"):
        env.step("<answer>x</answer>")


def test_episodes_are_truncated_after_twenty_turns():
    env = gym.make("ToolGym/SingleHop-v0")
    env.reset(seed=0)
    for _ in range(20):
        *_, terminated, truncated, _ = env.step("<tool_call>{}</tool_call>")
    assert truncated and not terminated


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reward": "f2"}, "Did you mean 'f1'"),
        ({"shapes": ("multihop",)}, "multi_hop"),
        ({"colour": 1}, "colour"),
        ({"sandbox": {"timout": 5}}, "Did you mean 'timeout'"),
        ({"max_output_chars": 0}, "positive int"),
        ({"max_output_chars": "big"}, "positive int"),
    ],
)
def test_bad_knobs_raise_at_once_with_a_fix(kwargs, message):
    with pytest.raises(InvalidKnob, match=message):
        gym.make("ToolGym/Scenario-v0", **kwargs)


@pytest.mark.parametrize("vector", ["sync", "async"])
def test_vector_envs_step_text_actions(vector):
    envs = gym.make_vec("ToolGym/Scenario-v0", num_envs=2, vectorization_mode=vector,
                        vector_kwargs={"shared_memory": False} if vector == "async" else {})
    obs, info = envs.reset(seed=0)
    obs, rewards, terminated, truncated, info = envs.step(["<answer>x</answer>", "hello"])
    assert list(terminated) == [True, True] and len(rewards) == 2
    envs.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 1000), env_id=st.sampled_from(GENERATED_IDS))
def test_score_trajectory_gives_the_rewards_and_metrics_the_env_gave(data, seed, env_id):
    env = gym.make(env_id)
    obs, info = env.reset(seed=seed)
    gold = oracle_turns(env.unwrapped.scenario)
    rewards, done, truncated = [], False, False
    while not (done or truncated):
        text = ACTIONS.filter(lambda a: isinstance(a, str))
        mixed = st.sampled_from(gold) | ACTIONS | st.builds(lambda a, b: a + b, st.sampled_from(gold), text)
        obs, reward, done, truncated, info = env.step(data.draw(mixed))
        rewards.append(reward)
    score = score_trajectory(env.unwrapped.scenario, obs["messages"])
    assert [t.reward for t in score.turns] == pytest.approx(rewards)
    assert (score.metrics.solved, score.metrics.calls) == (info["solved"], info["calls"])
    assert score.metrics.solve_f1 == pytest.approx(info["solve_f1"])
    assert score.answer_correct == info["answer_correct"]


def test_the_oracle_takes_over_an_episode_someone_else_began():
    env = gym.make("ToolGym/MultiHop-v0")
    obs, info = env.reset(seed=0)
    obs, *_ = env.step(call("no_such_tool", {}))
    agent, done = OracleAgent(env), False
    while not done:
        obs, reward, done, truncated, info = env.step(agent.act(obs))
    assert info["solve_rate"] == 1.0 and info["answer_correct"]
    assert info["solve_f1"] == pytest.approx(2 * info["solved"] / (info["calls"] + info["sub_answers"]))


def test_a_tool_call_inside_a_think_block_is_reasoning_never_run():
    env = gym.make("ToolGym/SingleHop-v0")
    env.reset(seed=0)
    gold = env.unwrapped.scenario.subtasks[0].call
    action = f"<think>Maybe {call(gold.name, gold.arguments)}?</think><answer>no idea</answer>"
    obs, reward, terminated, _, info = env.step(action)
    last = obs["messages"][-1]
    assert terminated and info["calls"] == 0 and reward == 0.0
    assert last["content"] == "<answer>no idea</answer>" and gold.name in last["reasoning_content"]


def test_reasoning_before_a_call_is_kept_apart_and_the_call_runs():
    env = gym.make("ToolGym/SingleHop-v0")
    env.reset(seed=0)
    gold = env.unwrapped.scenario.subtasks[0].call
    obs, reward, terminated, _, info = env.step("<think>Look it up.</think>" + call(gold.name, gold.arguments))
    assistant = obs["messages"][-2]
    assert not terminated and info["calls"] == 1 and reward == 1.0
    assert assistant["reasoning_content"] == "Look it up." and "<think>" not in assistant["content"]
    obs, *_ = env.step({"role": "assistant", "content": "</think><answer>x</answer>", "reasoning_content": "r"})
    assert obs["messages"][-1]["reasoning_content"] == "r" and obs["messages"][-1]["content"] == "<answer>x</answer>"


def test_the_max_turns_knob_and_a_scenarios_own_limit_truncate():
    env = gym.make("ToolGym/SingleHop-v0", max_turns=2)
    env.reset(seed=0)
    assert env.step(call("no_such_tool", {}))[3] is False
    assert env.step(call("no_such_tool", {}))[3] is True
    env = gym.make("ToolGym/Suite-v0", scenarios=[toolgym.generate_suite(1, seed=0)[0].model_copy(update={"max_turns": 1})])
    env.reset()
    assert env.step(call("no_such_tool", {}))[3] is True
