"""The paper's benchmarks through `toolgym eval` and `toolgym report`: RoTBench, ToolHop, reasoning."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest

from toolgym.agents import RandomAgent
from toolgym.cli import main
from toolgym.evaluate import evaluate, play_episode
from toolgym.oracle import OracleAgent
from toolgym.suites import load_suite

TOOLHOP = Path(__file__).parent / "fixtures" / "toolhop" / "toolhop.jsonl"


def test_the_replay_agent_scores_one_on_every_rotbench_figure(rotbench_file, capsys):
    assert main(["eval", "--suite", str(rotbench_file), "--agent", "replay", "--json", "--no-progress"]) == 0
    data = json.loads(capsys.readouterr().out)
    overall = data["overall"]
    assert overall["episodes"] == 105
    assert overall["tool_selection"] == overall["parameter_identification"] == overall["content_filling"] == 1.0
    assert list(data["by_shape"]) == ["rotbench/first_turn/clean"]


def test_a_rotbench_episode_is_one_reply_and_a_think_block_is_not_graded(rotbench_file):
    scenario = load_suite(rotbench_file)[0]
    env = gym.make("ToolGym/Suite-v0", scenarios=[scenario])
    gold = scenario.grading.golds[0]
    env.reset()
    *_, terminated, truncated, info = env.step("<think>Action: nothing\nAction Input: {}</think>" + gold)
    assert terminated and (info["tool_selection"], info["content_filling"]) == (1.0, 1.0)
    env.reset()
    obs, reward, terminated, _, info = env.step("I would rather not.")
    assert terminated and reward == 0.0 and info["tool_selection"] == 0.0


def test_the_random_agent_on_rotbench_scores_in_range(rotbench_file):
    report = evaluate(load_suite(rotbench_file)[:10], RandomAgent(0), progress=False)
    assert 0.0 <= report.overall["content_filling"] <= report.overall["tool_selection"] <= 1.0


def test_toolhop_plays_all_three_modes_and_the_oracle_answers_every_one(capsys):
    assert main(["eval", "--suite", str(TOOLHOP), "--agent", "oracle", "--json", "--no-progress"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data["by_shape"]) == ["toolhop/direct", "toolhop/mandatory", "toolhop/free"]
    assert all(s["answer_accuracy"] == 1.0 and s["episodes"] == 3 for s in data["by_shape"].values())
    assert data["overall"]["solve_f1"] is None  # no sub-answers: Solve-F1 does not apply


def _call(call: dict) -> str:
    return "<tool_call>" + json.dumps({"name": call["name"], "arguments": call["arguments"]}) + "</tool_call>"


def test_toolhop_grades_the_final_reply_or_else_the_tool_output_before_it():
    scenario = next(s for s in load_suite(TOOLHOP) if s.shape == "toolhop/free")
    env = gym.make("ToolGym/Suite-v0", scenarios=[scenario])
    record = play_episode(env, OracleAgent())
    assert record["answer_correct"] and record["turns"] == len(scenario.meta["gold_calls"]) + 1
    env.reset()
    for call in scenario.meta["gold_calls"]:
        env.step(_call(call))
    *_, info = env.step("See the tool's output.")  # the answer only in the tool message before
    assert info["answer_correct"]
    env.reset()
    *_, info = env.step("<answer>not it</answer>")
    assert not info["answer_correct"]


def test_toolhop_episodes_stop_at_nine_turns():
    scenario = next(s for s in load_suite(TOOLHOP) if s.shape == "toolhop/mandatory")
    env = gym.make("ToolGym/Suite-v0", scenarios=[scenario])
    env.reset()
    for turn in range(1, 10):
        *_, terminated, truncated, _ = env.step('<tool_call>{"name": "nope", "arguments": {}}</tool_call>')
        assert truncated == (turn == 9) and not terminated


def test_toolgym_report_puts_each_benchmarks_headline_in_a_column(rotbench_file, tmp_path, capsys):
    main(["eval", "--suite", str(rotbench_file), "--agent", "replay", "--limit", "5", "--no-progress",
          "--out", str(tmp_path / "good.jsonl")])
    main(["eval", "--suite", str(TOOLHOP), "--agent", "random", "--no-progress", "--out", str(tmp_path / "good2.jsonl")])
    capsys.readouterr()
    lines = (tmp_path / "good.jsonl").read_text() + (tmp_path / "good2.jsonl").read_text()
    (tmp_path / "mixed.jsonl").write_text(lines)
    assert main(["report", str(tmp_path / "mixed.jsonl"), "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)["mixed"]
    assert row["RoTBench CF"] == 1.0 and 0.0 <= row["ToolHop"] <= 1.0
    assert row["average"] == pytest.approx((row["RoTBench CF"] + row["ToolHop"]) / 2)
    assert main(["report", str(tmp_path / "missing.jsonl")]) == 2
