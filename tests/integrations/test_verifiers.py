"""verifiers: ToolGym's environment evaluated with verifiers against a stub OpenAI server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

vf = pytest.importorskip("verifiers", reason="verifiers is an optional extra: pip install -e .[verifiers]")
if not hasattr(vf, "MultiTurnEnv"):
    pytest.skip(f"verifiers {vf.__version__} has no classic API (MultiTurnEnv); the adapter needs verifiers<0.4",
                allow_module_level=True)

from stub_openai import StubOpenAI  # noqa: E402

from toolgym.evaluate import play_episode  # noqa: E402
from toolgym.generate import generate_suite  # noqa: E402
from toolgym.integrations.verifiers import METRICS, load_environment  # noqa: E402
from toolgym.oracle import OracleAgent  # noqa: E402

KEY_VAR = "TOOLGYM_STUB_API_KEY"
SCENARIOS = generate_suite(6, seed=0)


@pytest.fixture
def stub():
    server = StubOpenAI(SCENARIOS)
    yield server
    server.close()


def _client(url: str):
    os.environ.setdefault(KEY_VAR, "not-a-secret")
    return vf.ClientConfig(api_base_url=url, api_key_var=KEY_VAR, max_retries=0)


def _oracle_records() -> list[dict]:
    env = gym.make("ToolGym/Suite-v0", scenarios=SCENARIOS)
    records = [play_episode(env, OracleAgent(), options={"index": i}) for i in range(len(SCENARIOS))]
    env.close()
    return records


def _plain(message) -> dict:
    """A completion message as a dict (outputs hold pydantic messages, or dicts whose tool calls
    are JSON text)."""
    plain = message.model_dump() if hasattr(message, "model_dump") else dict(message)
    calls = [json.loads(c) if isinstance(c, str) else c for c in plain.get("tool_calls") or ()]
    return {**plain, "tool_calls": calls}


def _evaluate(env, url: str) -> list:
    results = env.evaluate_sync(_client(url), model="stub", num_examples=len(SCENARIOS), rollouts_per_example=1)
    return sorted(results["outputs"], key=lambda output: output["example_id"])


def test_rollouts_score_toolgyms_rewards_and_metrics_through_the_rubric(stub):
    outputs = _evaluate(load_environment(n=len(SCENARIOS), seed=0), stub.url)
    for output, record in zip(outputs, _oracle_records(), strict=True):
        assert output["reward"] == pytest.approx(record["return"])
        assert output["stop_condition"] == "toolgym_episode_over" and not output["is_truncated"]
        for name in METRICS:
            assert output["metrics"][name] == pytest.approx(float(record[name]))


def test_each_request_carries_its_scenarios_tools_and_tool_messages_answer_the_models_call_ids(stub):
    outputs = _evaluate(load_environment(n=len(SCENARIOS), seed=0), stub.url)
    for request in stub.requests:
        question = next(m["content"] for m in request["messages"] if m["role"] == "user")
        scenario = stub.by_question[question]
        assert [t["function"] for t in request["tools"]] == [d["function"] for d in scenario.tool_docs]
    for output in outputs:
        pending: list[str] = []
        for message in map(_plain, output["completion"]):
            if message["role"] == "assistant":
                assert not pending  # every call was answered before the next turn
                pending = [call["id"] for call in message["tool_calls"]]
            elif message["role"] == "tool":
                assert message["tool_call_id"] == pending.pop(0)
        assert not pending


def test_calls_written_as_text_are_played_and_their_results_come_back_as_a_user_message():
    server = StubOpenAI(SCENARIOS, native_tool_calls=False)
    try:
        outputs = _evaluate(load_environment(n=len(SCENARIOS), seed=0), server.url)
    finally:
        server.close()
    for output, record in zip(outputs, _oracle_records(), strict=True):
        assert output["reward"] == pytest.approx(record["return"])
        results = [m for m in map(_plain, output["completion"]) if m["role"] == "user"]
        assert len(results) == record["turns"] - 1 and results[0]["content"].startswith("Tool results:")


def test_a_rollout_stops_when_the_env_truncates_at_its_turn_limit(stub):
    outputs = _evaluate(load_environment(n=len(SCENARIOS), seed=0, max_turns=1), stub.url)
    for output, record in zip(outputs, _oracle_records(), strict=True):
        assert output["stop_condition"] == "toolgym_episode_over"
        assert output["metrics"]["num_turns"] == 1
        assert output["reward"] == pytest.approx(record["rewards"][0])
        assert output["metrics"]["answer_correct"] == 0.0


def test_rows_carry_each_scenarios_prompt_and_own_tool_schemas():
    env = load_environment(n=3, seed=0, shapes=["parallel_multi_hop"], distractors=1)
    rows = list(env.get_dataset())
    assert len(rows) == 3
    for row in rows:
        info = json.loads(row["info"])
        scenario = json.loads(info["scenario"])
        assert scenario["shape"] == "parallel_multi_hop"
        assert [d["name"] for d in info["tool_defs"]] == [t["doc"]["name"] for t in scenario["tools"]]
        assert row["prompt"][-1]["content"] == scenario["question"] and row["answer"] == scenario["answer"]


def test_bad_options_are_refused_when_the_environment_is_loaded():
    from toolgym.error import InvalidKnob

    with pytest.raises(InvalidKnob, match="Did you mean 'precision'"):
        load_environment(n=2, reward="precison")
    with pytest.raises(InvalidKnob, match="do not apply"):
        load_environment(suite="gen:2:0", distractors=3)


def test_vf_eval_runs_the_environment_from_the_command_line(stub, tmp_path):
    command = [str(Path(sys.executable).parent / "vf-eval"), "toolgym.integrations.verifiers", "-a", '{"n": 3}',
               "-m", "stub", "-b", stub.url, "-k", KEY_VAR, "-n", "3", "-r", "1"]
    if not Path(command[0]).exists():
        pytest.skip("the vf-eval script is not installed beside this Python")
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, KEY_VAR: "not-a-secret"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "toolgym_reward" in done.stdout and "stop_conditions: toolgym_episode_over: 1.000" in done.stdout
