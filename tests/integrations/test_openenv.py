"""OpenEnv: ToolGym envs served on loopback, one per session, played by many clients at once."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.request
from types import SimpleNamespace

import gymnasium as gym
import pytest

pytest.importorskip("openenv", reason="OpenEnv is an optional extra: pip install -e .[openenv]")

from toolgym.evaluate import play_batch, play_episode  # noqa: E402
from toolgym.generate import generate_suite  # noqa: E402
from toolgym.integrations.openenv import (  # noqa: E402
    EnvSpec,
    RemoteToolEnv,
    ToolGymAction,
    ToolGymEnvClient,
    create_app,
)
from toolgym.oracle import OracleAgent  # noqa: E402

SESSIONS = 64
SCENARIOS = generate_suite(SESSIONS, seed=0)


class Loopback:
    """An OpenEnv server of ToolGym envs in a thread of this process, on 127.0.0.1."""

    def __init__(self, app) -> None:
        import uvicorn

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)

    def sessions(self) -> int:
        with urllib.request.urlopen(f"{self.url}/sessions", timeout=10) as response:
            return json.loads(response.read())["active"]

    def wait_sessions(self, count: int, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while (active := self.sessions()) != count and time.monotonic() < deadline:
            time.sleep(0.1)
        return active

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def server():
    app = create_app(EnvSpec(scenarios=tuple(SCENARIOS)), max_sessions=SESSIONS + 8, session_timeout=2.0)
    loopback = Loopback(app)
    yield loopback
    loopback.stop()


def _in_process_rewards() -> list[list[float]]:
    env = gym.make("ToolGym/Suite-v0", scenarios=SCENARIOS)
    rewards = [play_episode(env, OracleAgent(), options={"index": i})["rewards"] for i in range(SESSIONS)]
    env.close()
    return rewards


async def _oracle_episode(url: str, index: int, barrier: asyncio.Barrier) -> tuple[list[float], dict]:
    """One client session plays the oracle's turns; the oracle reads the scenario kept here."""
    agent, holder = OracleAgent(), SimpleNamespace(unwrapped=SimpleNamespace(scenario=SCENARIOS[index]))
    async with ToolGymEnvClient(base_url=url) as client:
        result = await client.reset(options={"index": index})
        assert result.observation.tools == SCENARIOS[index].tool_docs  # each session its scenario's tools
        await barrier.wait()  # every session is open before any plays
        rewards = []
        while not result.done:
            observation = {"messages": result.observation.messages, "tools": result.observation.tools}
            result = await client.step(agent.act(observation, holder))
            rewards.append(result.reward)
        return rewards, result.observation.info


def test_64_concurrent_sessions_play_oracle_episodes_to_the_rewards_of_in_process_envs(server):
    async def play() -> tuple[list, int]:
        barrier = asyncio.Barrier(SESSIONS + 1)
        episodes = asyncio.gather(*(_oracle_episode(server.url, i, barrier) for i in range(SESSIONS)))
        await barrier.wait()
        open_sessions = await asyncio.to_thread(server.sessions)
        return await episodes, open_sessions

    results, open_sessions = asyncio.run(play())
    assert open_sessions == SESSIONS
    assert [rewards for rewards, _ in results] == _in_process_rewards()
    assert all(info["solve_f1"] == 1.0 and info["answer_correct"] for _, info in results)
    assert server.wait_sessions(0) == 0  # every client closed: every session freed


def test_remote_envs_play_through_the_one_episode_loop_as_local_envs_do(server):
    remote = [RemoteToolEnv(server.url) for _ in range(4)]
    local = [gym.make("ToolGym/Suite-v0", scenarios=SCENARIOS) for _ in range(4)]
    options = [{"index": i} for i in (3, 1, 4, 1)]
    try:
        got, want = play_batch(remote, OracleAgent(), options=options), play_batch(local, OracleAgent(), options=options)
    finally:
        for env in remote + local:
            env.close()
    keys = ("scenario_id", "rewards", "solve_precision", "solve_rate", "solve_f1", "answer_correct", "messages")
    assert [{k: r[k] for k in keys} for r in got] == [{k: r[k] for k in keys} for r in want]


def test_a_client_that_disconnects_mid_episode_frees_its_session(server):
    async def leave_mid_episode() -> int:
        client = ToolGymEnvClient(base_url=server.url)
        await client.reset(options={"index": 2})
        await client.step(ToolGymAction(text='<tool_call>{"name": "nope", "arguments": {}}</tool_call>'))
        during = await asyncio.to_thread(server.sessions)
        client._ws.transport.abort()  # the connection drops: no close message, no goodbye
        return during

    assert asyncio.run(leave_mid_episode()) == 1
    assert server.wait_sessions(0) == 0


def test_an_idle_session_is_reaped_and_says_so_when_used_again(server):
    async def idle() -> str:
        async with ToolGymEnvClient(base_url=server.url) as client:
            await client.reset(options={"index": 0})
            assert await asyncio.to_thread(server.sessions) == 1
            assert await asyncio.to_thread(server.wait_sessions, 0, 15.0) == 0  # timeout 2 s, checked every 5 s
            with pytest.raises(RuntimeError) as error:
                await client.step("<answer>late</answer>")
            return str(error.value)

    assert "closed" in asyncio.run(idle())


def test_a_bad_reset_argument_or_a_step_after_the_end_is_an_error_that_names_it(server):
    env = ToolGymEnvClient(base_url=server.url).sync()
    with env:
        with pytest.raises(RuntimeError, match="Did you mean 'options'"):
            env.reset(option={"index": 0})
        with pytest.raises(RuntimeError, match=r"must be an int in \[0, 64\)"):
            env.reset(options={"index": 64})
        env.reset(options={"index": 5})
        result = env.step({"role": "assistant", "content": "<answer>guess</answer>"})
        assert result.done and result.observation.terminated and result.reward == 0.0
        with pytest.raises(RuntimeError, match="call reset"):
            env.step("<answer>again</answer>")


def test_a_generator_server_ships_each_episodes_tools_and_the_scenario_on_request():
    app = create_app(EnvSpec(env_id="ToolGym/SingleHop-v0", env_kwargs={"distractors": 2}), max_sessions=4)
    loopback = Loopback(app)
    try:
        env = ToolGymEnvClient(base_url=loopback.url).sync()
        with env:
            first = env.reset(seed=1, with_scenario=True).observation
            second = env.reset(seed=2).observation
        local = gym.make("ToolGym/SingleHop-v0", distractors=2)
        assert first.tools == local.reset(seed=1)[0]["tools"] and second.scenario is None
        assert json.loads(first.scenario)["id"] == local.unwrapped.scenario.id
        assert second.tools == local.reset(seed=2)[0]["tools"] != first.tools
    finally:
        loopback.stop()


def test_a_server_of_an_unknown_env_id_is_refused_before_it_starts():
    from toolgym.error import InvalidKnob

    with pytest.raises(InvalidKnob, match="Did you mean 'ToolGym/MultiHop-v0'"):
        create_app(EnvSpec(env_id="ToolGym/MultiHop-v9"))


@pytest.mark.slow
def test_toolgym_serve_serves_a_suite_that_a_remote_env_plays_to_in_process_rewards(tmp_path):
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "toolgym.cli", "serve", "--suite", "gen:64:0", "--port", str(port),
               "--max-sessions", "4", "--session-timeout", "60", "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # importing OpenEnv (gradio) is slow on a busy machine
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "toolgym serve did not answer"
                time.sleep(0.5)
        env = RemoteToolEnv(url)
        try:
            record = play_episode(env, OracleAgent(), options={"index": 7})
        finally:
            env.close()
        assert record["rewards"] == _in_process_rewards()[7]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_toolgym_serve_refuses_bad_arguments_before_serving(capsys):
    from toolgym.cli import main

    assert main(["serve", "--env-kwargs", "{not json"]) == 2
    assert "--env-kwargs is not valid JSON" in capsys.readouterr().err
    assert main(["serve", "--env", "ToolGym/SingleHop-v9"]) == 2
    assert "Did you mean 'ToolGym/SingleHop-v0'" in capsys.readouterr().err


@pytest.mark.slow
def test_the_trl_example_trains_a_grpo_step_on_episodes_played_in_server_sessions(tmp_path):
    pytest.importorskip("trl", reason="the TRL example needs the train extra")
    import importlib.util
    from pathlib import Path

    from toolgym.generate import GenerateConfig

    path = Path(__file__).resolve().parents[2] / "examples" / "openenv_trl.py"
    spec = importlib.util.spec_from_file_location("openenv_trl", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    suite = generate_suite(4, seed=0, config=GenerateConfig(shapes=("single_hop",), distractors=1))
    loopback = Loopback(create_app(EnvSpec(scenarios=tuple(suite), max_turns=3), max_sessions=8))
    try:
        args = example.make_parser().parse_args([
            "--server", loopback.url, "--tiny", "--num-scenarios", "4", "--num-generations", "2", "--max-steps", "1",
            "--max-new-tokens", "16", "--max-length", "512", "--output-dir", str(tmp_path)])
        trainer = example.train(args)
        assert loopback.wait_sessions(0) == 0  # the rollout's sessions were closed
    finally:
        loopback.stop()
    step = trainer.state.log_history[0]
    assert step["num_tokens"] > 0 and "rewards/episode_return/mean" in step
