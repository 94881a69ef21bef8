"""`toolgym eval` at the scale of served models: retries, infrastructure errors, concurrency, resume, pass^k."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest
from openai_stub import StubOpenAI, text

import toolgym
from toolgym.agents import OpenAIAgent, make_agent
from toolgym.cli import main
from toolgym.error import BackendError, InvalidKnob
from toolgym.evaluate import evaluate
from toolgym.oracle import OracleAgent
from toolgym.suites import load_suite
from toolgym.users import OpenAIUser

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def suite():
    return toolgym.generate_suite(6, seed=3)


def answer_at_once(body):
    """A model that answers every question with its first reply (one turn an episode)."""
    return text("<answer>I do not know</answer>")


def test_retries_recover_from_rate_limits_server_errors_and_timeouts(suite):
    with StubOpenAI(answer_at_once, slow_seconds=1.5) as server:
        server.fail_next("slow", 429, 500, 503)  # the timeout first: its backoff is the client's own
        agent = OpenAIAgent("m", base_url=server.url, timeout=0.5, max_retries=4)
        report = evaluate(suite[:1], agent, progress=False)
    assert report.overall["errors"] == 0 and report.overall["episodes"] == 1
    assert len(server.requests) == 5  # four failures, then the answer
    assert report.episodes[0]["error"] is None and report.episodes[0]["turns"] == 1


def test_a_request_that_keeps_failing_fails_its_episode_not_the_run(suite, capsys):
    doomed = suite[1].question
    with StubOpenAI(answer_at_once) as server:
        server.fail_when = lambda body: 500 if any(doomed in str(m.get("content")) for m in body["messages"]) else None
        code = main(["eval", "--suite", "gen:6:3", "--agent", "openai:m", "--base-url", server.url,
                     "--max-retries", "2", "--json", "--no-progress"])
        assert code == 0
        data = json.loads(capsys.readouterr().out)
        assert data["overall"]["episodes"] == 5 and data["overall"]["errors"] == 1
        assert data["overall"]["answer_accuracy"] == 0.0  # over the five scored episodes
        assert sum(doomed in str(body["messages"]) for _, _, body in server.requests) == 3  # 1 + 2 retries
        report = evaluate(suite, make_agent("openai:m", base_url=server.url, max_retries=0), progress=False)
    failed = [e for e in report.episodes if e["error"]]
    assert [e["scenario_id"] for e in failed] == [suite[1].id]
    assert "HTTP 500" in failed[0]["error"] and failed[0]["answer_correct"] is None
    assert "1 episodes failed with infrastructure errors" in report.table()


def test_a_user_model_that_keeps_failing_is_an_infrastructure_error(shop_suite):
    with StubOpenAI(answer_at_once) as server:
        server.fail_when = lambda body: 502
        user = OpenAIUser("u", base_url=server.url, max_retries=1)
        env = gym.make("ToolGym/Suite-v0", path=str(shop_suite), user=user)
        report = evaluate(env, OracleAgent(), progress=False)
        env.close()
        with pytest.raises(BackendError, match="HTTP 502"):
            user.reply("x", [])
    assert report.overall["errors"] == 4 and report.overall["episodes"] == 0 and report.overall["pass_rate"] is None
    assert all(e["error"].startswith(server.url) and e["turns"] == 0 for e in report.episodes)


def test_concurrent_episodes_give_the_same_records_as_one_at_a_time(suite, shop_suite):
    def slow_oracle(body):  # answers right, so that records differ between episodes
        question = next(m["content"] for m in body["messages"] if m["role"] == "user")
        return text(f"<answer>{next(s.answer for s in suite if s.question == question)}</answer>")

    with StubOpenAI(slow_oracle, delay=0.05) as server:
        agent = make_agent("openai:m", base_url=server.url)
        one = evaluate(suite, agent, progress=False)
        many = evaluate(suite, agent, progress=False, concurrency=4)
    assert server.max_in_flight > 1
    assert many.episodes == one.episodes and one.overall["answer_accuracy"] == 1.0
    shop = load_suite(shop_suite)
    assert evaluate(shop, OracleAgent(), progress=False, concurrency=3).episodes == \
        evaluate(shop, OracleAgent(), progress=False).episodes


def test_env_copies_keep_the_envs_knobs_and_turn_limit(shop_suite):
    class Chatty:  # never ends an episode by itself
        def act(self, observation, env):
            return '<tool_call>{"name": "get_product", "arguments": {"product_id": "P1"}}</tool_call>'

    env = gym.make("ToolGym/Suite-v0", path=str(shop_suite), match="strict", max_episode_steps=3)
    report = evaluate(env, Chatty(), progress=False, concurrency=4)
    env.close()
    assert [(e["turns"], e["truncated"]) for e in report.episodes] == [(3, True)] * 4


def test_concurrency_is_refused_for_a_batched_agent(suite):
    class Batched:
        def act_batch(self, observations, envs):
            return ["<answer>x</answer>"] * len(observations)

    with pytest.raises(InvalidKnob, match="batch_size"):
        evaluate(suite, Batched(), progress=False, concurrency=2)


def test_samples_give_each_episode_several_trials_and_pass_hat_k(shop_suite):
    shop = load_suite(shop_suite)
    flaky = {"n": 0}

    class Flaky(OracleAgent):  # fails the first trial of every task
        def act(self, observation, env=None):
            turn = super().act(observation, env)
            return "I gave up." if flaky["n"] % 3 == 0 else turn

    def count(record):
        flaky["n"] += 1

    report = evaluate(shop, Flaky(), progress=False, samples=3, on_record=count)
    ids = [e["episode_id"] for e in report.episodes]
    assert ids[:3] == [shop[0].id, f"{shop[0].id}#1", f"{shop[0].id}#2"] and len(set(ids)) == 12
    assert [e["sample"] for e in report.episodes[:3]] == [0, 1, 2]
    assert report.overall["pass_hat_k"] == {"1": pytest.approx(2 / 3), "2": pytest.approx(1 / 3), "3": 0.0}
    assert "pass^k: k=1 66.7" in report.table()


def test_without_the_openai_package_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(InvalidKnob, match=r"pip install 'toolgym\[openai\]'"):
        make_agent("openai:m", base_url="http://127.0.0.1:9/v1")


# -- resuming a killed run ---------------------------------------------------------------------------


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_killed_run_resumes_without_duplicates_or_losses(tmp_path, capsys):
    out = tmp_path / "run.jsonl"
    args = ["eval", "--suite", "gen:12:5", "--agent", "openai:m", "--out", str(out), "--concurrency", "2",
            "--no-progress"]
    with StubOpenAI(answer_at_once, delay=0.3) as server:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([sys.executable, "-m", "toolgym.cli", *args, "--base-url", server.url], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=30) != 0
        before = _records(out)  # every line whole: nothing that finished is lost
        assert 3 <= len(before) < 12
        with out.open("a") as f:  # a line cut short, as a kill in mid-write would leave
            f.write(json.dumps(before[0])[:40])
        served = len(server.requests)
        assert main([*args, "--base-url", server.url]) == 0
    after = _records(out)
    planned = [s.id for s in toolgym.generate_suite(12, seed=5)]
    assert sorted(r["episode_id"] for r in after) == sorted(planned)  # each once
    assert after[: len(before)] == before  # kept as they were
    assert len(server.requests) - served == 12 - len(before)  # only the rest was played
    assert "resuming" in capsys.readouterr().err
    assert main([*args, "--base-url", "http://127.0.0.1:9/v1"]) == 0  # all done: no request at all
    assert _records(out) == after


def test_resuming_plays_again_the_episodes_that_failed(tmp_path, capsys):
    out = tmp_path / "run.jsonl"
    args = ["eval", "--suite", "gen:4:0", "--agent", "openai:m", "--out", str(out), "--no-progress", "--json"]
    with StubOpenAI(answer_at_once) as server:
        server.fail_when = lambda body: 500
        assert main([*args, "--base-url", server.url, "--max-retries", "0"]) == 0
        assert [r["error"] is not None for r in _records(out)] == [True] * 4
        server.fail_when = lambda body: None
        assert main([*args, "--base-url", server.url]) == 0
    records = _records(out)
    assert len(records) == 4 and not any(r["error"] for r in records)
    printed = capsys.readouterr().out
    last = json.loads(printed[printed.rindex('{\n  "overall"'):])
    assert last["overall"]["episodes"] == 4 and last["overall"]["errors"] == 0
