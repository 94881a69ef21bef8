"""The Curriculum wrapper: difficulty follows the agent's recent success."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import toolgym
from toolgym.error import InvalidKnob
from toolgym.generate.difficulty import DIFFICULTY_LEVELS
from toolgym.oracle import OracleAgent
from toolgym.wrappers import Curriculum, CurriculumSchedule

WRONG = "<answer>no idea</answer>"


def play(env: gym.Env, episodes: int, solve: bool) -> list[int]:
    """Plays episodes with the oracle (solve) or a wrong answer at once; returns info['difficulty'] per episode."""
    seen = []
    for episode in range(episodes):
        obs, info = env.reset(seed=episode)
        seen.append(info["difficulty"])
        agent, done = OracleAgent(env), False
        while not done:
            obs, _, terminated, truncated, info = env.step(agent.act(obs) if solve else WRONG)
            assert info["difficulty"] == seen[-1]
            done = terminated or truncated
    return seen


def test_an_agent_that_always_succeeds_climbs_to_the_top_level():
    env = Curriculum(gym.make("ToolGym/Scenario-v0"), window=2)
    seen = play(env, 12, solve=True)
    assert seen == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5, 5]
    assert env.level == 5 and env.schedule.levels_played == seen
    config = env.unwrapped.generator_config
    assert config.difficulty == 5 and config.distractors == DIFFICULTY_LEVELS[5]["distractors"]
    assert all(entry["score"] == 1.0 for entry in env.history)


def test_an_agent_that_always_fails_drops_to_the_bottom_level():
    env = Curriculum(gym.make("ToolGym/Scenario-v0"), window=3, start=5, metric="answer_correct")
    seen = play(env, 14, solve=False)
    assert seen[:4] == [5, 5, 5, 4] and seen[-1] == 1 and env.level == 1
    assert env.unwrapped.generator_config.shapes == ("single_hop",)
    assert [e["score"] for e in env.history] == [0.0] * 14


def test_the_level_holds_between_the_thresholds():
    schedule = CurriculumSchedule(levels=(2, 3), window=4, up=0.9, down=0.1)
    for score in [1.0, 0.0, 1.0, 0.5] * 3:
        assert schedule.record(score, schedule.level) == 2
    assert schedule.to_dict()["level"] == 2 and len(schedule.to_dict()["history"]) == 12


def test_scores_of_episodes_played_at_an_older_level_do_not_count():
    schedule = CurriculumSchedule(window=1)
    assert schedule.record(1.0, 1) == 2
    assert schedule.record(0.0, 1) == 2  # still running when the level moved
    assert schedule.levels_played == [1, 1]


def test_explicit_knobs_of_the_env_win_over_every_level():
    env = Curriculum(gym.make("ToolGym/SingleHop-v0", distractors=1), window=1, start=4)
    play(env, 2, solve=True)
    assert env.level == 5
    env.reset(seed=9)
    assert env.unwrapped.scenario.shape == "single_hop" and len(env.unwrapped.scenario.tools) == 2


def test_the_curriculum_passes_the_gymnasium_checker():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # check_env warns that the env is wrapped
        check_env(Curriculum(gym.make("ToolGym/Scenario-v0")), skip_render_check=True)


def test_a_vector_env_shares_one_schedule_across_its_envs():
    schedule = CurriculumSchedule(window=2, start=5)
    vector = gym.vector.SyncVectorEnv(
        [lambda: Curriculum(gym.make("ToolGym/Scenario-v0"), schedule=schedule) for _ in range(2)]
    )
    _, infos = vector.reset(seed=0)
    assert list(infos["difficulty"]) == [5, 5]
    levels = []
    for _ in range(12):  # every step ends both episodes with a wrong answer, the next resets them
        _, _, terminated, truncated, infos = vector.step(np.array([WRONG, WRONG], dtype=object))
        levels.append(schedule.level)
    assert levels[-1] == 1 and levels == sorted(levels, reverse=True)
    assert len(schedule.history) == 12  # two envs, six finished episodes each
    vector.close()


def test_misuse_raises_with_a_fix(tmp_path):
    path = tmp_path / "suite.jsonl"
    toolgym.save_suite(toolgym.generate_suite(1, seed=0), path)
    suite_env = gym.make("ToolGym/Suite-v0", path=str(path))
    with pytest.raises(InvalidKnob, match="not a suite env"):
        Curriculum(suite_env)
    with pytest.raises(InvalidKnob, match="plays a suite"):
        suite_env.unwrapped.set_knobs(difficulty=2)
    with pytest.raises(InvalidKnob, match="not both"):
        Curriculum(gym.make("ToolGym/Scenario-v0"), window=3, schedule=CurriculumSchedule())
    for kwargs, message in [({"levels": (3, 1)}, "increasing"), ({"levels": (0, 1)}, "increasing"),
                            ({"window": 0}, "window"), ({"up": 0.2, "down": 0.5}, "down < up"),
                            ({"metric": "solve_rate"}, "Unknown curriculum metric"),
                            ({"levels": (1, 2), "start": 3}, "start=3")]:
        with pytest.raises(InvalidKnob, match=message):
            CurriculumSchedule(**kwargs)


def test_a_bad_knob_leaves_the_env_as_it_was():
    env = gym.make("ToolGym/Scenario-v0", distractors=2)
    with pytest.raises(InvalidKnob):
        env.unwrapped.set_knobs(difficulty=9)
    assert env.unwrapped.generator_config.distractors == 2 and env.unwrapped.generator_config.difficulty is None
