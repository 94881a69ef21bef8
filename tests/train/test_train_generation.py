"""Every sample of the policy goes through one generator factory, on any backend, token-exact."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest
from conftest import SMALL_ENV
from train_fakes import FakeEnv, canonical_call
from vllm_stub import StubVLLMServer, pretend_vllm, scripted

from toolgym.hf import HFGenerator, render_ids
from toolgym_train import vllm_engines
from toolgym_train.config import ToolGymTrainConfig
from toolgym_train.generation import BACKENDS, Sampling, make_generator
from toolgym_train.vllm_engines import ServerGenerator

SCRIPT = [canonical_call("film_lookup", {"title": "Blue Moon"}), "<answer>Ann Lee</answer>"]
"""Look the film up, then answer: two turns with a tool message between them."""


class ScriptedBackend:
    """A rollout backend that records how it was built and called and writes :data:`SCRIPT`; with
    ``alternate``, every other prompt of a call gets a wrong answer instead (samples that differ)."""

    def __init__(self, tokenizer) -> None:
        self.reply, self.tokenizer = scripted(tokenizer, SCRIPT), tokenizer
        self.builds: list[dict] = []
        self.calls: list[list[list[int]]] = []
        self.alternate = False

    def build(self, config, model, tokenizer, trainer, sampling):
        self.builds.append({"model": model, "trainer": trainer, "sampling": sampling})
        return self.generate

    def generate(self, batch: list[list[int]]) -> list[list[int]]:
        self.calls.append([list(ids) for ids in batch])
        wrong = self.tokenizer.encode("<answer>nobody</answer>", add_special_tokens=False) + [self.tokenizer.eos_token_id]
        return [wrong if self.alternate and i % 2 else self.reply(ids) for i, ids in enumerate(batch)]


def config_for(tmp_path, **overrides) -> ToolGymTrainConfig:
    base = dict(output_dir=str(tmp_path), env_id="ToolGym/SingleHop-v0", env_kwargs=SMALL_ENV, max_turns=3,
                episodes_per_iteration=2, num_generations=2, per_device_train_batch_size=2, max_new_tokens=40,
                max_length=4096, eval_episodes=0, temperature=0.7, top_p=0.9)
    return ToolGymTrainConfig(**{**base, **overrides})


def assert_token_exact(tokenizer, ids: list[int], mask: list[int], prompt_len: int, messages, tools, sampled) -> None:
    """The episode's ids are the template's rendering of its chat, and the masked-in ids are exactly
    the ids the backend sampled, in order."""
    newline = tokenizer.encode("\n", add_special_tokens=False)
    assert ids + newline == render_ids(tokenizer, messages, tools)  # the template closes a turn with "<|im_end|>\n"
    assert [t for t, m in zip(ids[prompt_len:], mask, strict=True) if m] == [t for turn in sampled for t in turn]


@pytest.fixture
def backend(tokenizer, monkeypatch) -> ScriptedBackend:
    """The scripted backend, registered as ``rollout_backend="scripted"``; the run's envs are FakeEnvs."""
    import toolgym_train.policy

    fake = ScriptedBackend(tokenizer)
    monkeypatch.setitem(BACKENDS, "scripted", fake.build)
    monkeypatch.setattr(toolgym_train.policy, "make_env", lambda config, curriculum=None: FakeEnv())
    return fake


def test_training_rollouts_sample_through_the_backend_a_turn_of_every_episode_per_call(tmp_path, backend, model, tokenizer):
    from toolgym_train.train import collect

    config = config_for(tmp_path, rollout_backend="scripted")
    episodes = collect(model, tokenizer, config, seeds=[0, 0, 0])
    assert backend.builds == [{"model": model, "trainer": None, "sampling": Sampling(40, 0.7, 0.9)}]
    assert [len(batch) for batch in backend.calls] == [3, 3]
    for ep in episodes:
        sampled = [backend.reply(ep.ids[: len(ep.prompt_ids)]), backend.reply(ep.ids)]  # as written at each turn
        assert ep.turns == SCRIPT
        assert_token_exact(tokenizer, ep.ids, ep.env_mask, len(ep.prompt_ids), ep.messages, ep.tools, sampled)


def test_episode_mode_samples_the_trainers_model_through_the_backend(tmp_path, backend, model, tokenizer):
    from toolgym_train.episode import EpisodeRollout

    trainer = SimpleNamespace(processing_class=tokenizer, model=model, accelerator=SimpleNamespace(unwrap_model=lambda m: m))
    rollout_func = EpisodeRollout(config_for(tmp_path, rollout_backend="scripted", mode="episode"), {"opening": None})
    out = rollout_func(["opening", "opening"], trainer)
    envs = list(rollout_func._envs)
    rollout_func.close()
    assert backend.builds[0]["trainer"] is trainer and backend.builds[0]["model"] is model
    assert [len(batch) for batch in backend.calls] == [2, 2]
    for prompt, completion, mask, env in zip(out["prompt_ids"], out["completion_ids"], out["env_mask"], envs, strict=True):
        sampled = [backend.reply(prompt), backend.reply(prompt + completion)]
        assert_token_exact(tokenizer, prompt + completion, mask, len(prompt), env.messages, env._obs()["tools"], sampled)
    assert out["episode_reward"] == [2.0, 2.0]  # a tool round (1) and the right answer (1)


def test_dpo_samples_every_prefix_through_the_backend_in_one_call(tmp_path, backend, model, tokenizer, monkeypatch):
    from toolgym_train.dpo import env_ranked_pairs
    from toolgym_train.step import PrefixReward, prefix_rows
    from toolgym_train.train import collect

    config = config_for(tmp_path, rollout_backend="scripted", mode="dpo", beta=0.1, temperature=0.0)
    episodes = collect(model, tokenizer, config, seeds=[0])
    backend.alternate = True  # half the samples answer wrong: the env's reward ranks them
    monkeypatch.setattr(PrefixReward, "score", lambda self, text, scenario, replay: float("nobody" not in text))
    pairs = env_ranked_pairs(model, tokenizer, config, episodes)
    assert backend.builds[-1]["sampling"].temperature == 1e-3  # DPO's floor: its samples must differ
    rows = prefix_rows(episodes, tokenizer)
    prompts = [tokenizer.encode(row["prompt"], add_special_tokens=False) for row in rows]
    assert backend.calls[-1] == [ids for ids in prompts for _ in range(2)]  # 2 prefixes x 2 samples, one call
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [(text, "<answer>nobody</answer>") for text in SCRIPT]


def test_held_out_evaluation_samples_through_the_backend_at_its_temperature(tmp_path, tokenizer, model, monkeypatch):
    from toolgym_train.evaluate import evaluate

    fake = ScriptedBackend(tokenizer)
    monkeypatch.setitem(BACKENDS, "scripted", fake.build)
    config = config_for(tmp_path, rollout_backend="scripted", eval_episodes=3, eval_temperature=0.0)
    report = evaluate(model, tokenizer, config)  # the real env: the script's tool is unknown there
    assert fake.builds[0]["sampling"] == Sampling(40, 0.0, 0.9)
    assert [len(batch) for batch in fake.calls] == [3, 3]  # a vLLM backend plays every held-out episode at once
    assert [e["actions"] for e in report.episodes] == [SCRIPT] * 3


def test_the_hf_backend_samples_as_before(tmp_path, model, tokenizer):
    """Same generator, same generate calls, same random draws: the same rollouts for a seed."""
    import torch

    from toolgym_train.policy import make_env
    from toolgym_train.rollout import rollout
    from toolgym_train.train import collect

    config = config_for(tmp_path, temperature=1.0, top_p=1.0, max_new_tokens=12)
    generate = make_generator(config, model, tokenizer)
    assert isinstance(generate, HFGenerator)
    assert (generate.model, generate.max_new_tokens, generate.temperature, generate.top_p) == (model, 12, 1.0, 1.0)
    torch.manual_seed(0)
    new = collect(model, tokenizer, config, seeds=[3, 4])
    torch.manual_seed(0)
    envs = [make_env(config) for _ in range(2)]
    old = rollout(envs, HFGenerator(model, tokenizer, 12, 1.0), tokenizer, seeds=[3, 4], max_length=4096)
    assert [(e.ids, e.env_mask) for e in new] == [(e.ids, e.env_mask) for e in old]
    trainer = SimpleNamespace(accelerator=SimpleNamespace(unwrap_model=lambda m: m.inner))
    assert make_generator(config, SimpleNamespace(inner=model), tokenizer, trainer=trainer).model is model


@pytest.mark.parametrize("name", ["vllm-colocate", "vllm-server"])
def test_a_vllm_backend_without_vllm_or_a_gpu_is_an_error_never_a_fall_back_to_hf(name, tmp_path, model, tokenizer, monkeypatch):
    import torch

    config = config_for(tmp_path, rollout_backend=name)
    pretend_vllm(monkeypatch, installed=False)
    with pytest.raises(ValueError, match=rf"rollout_backend='{name}' needs vLLM, which is not installed.*--rollout_backend hf"):
        make_generator(config, model, tokenizer)
    pretend_vllm(monkeypatch, installed=True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no GPU is visible"):
        make_generator(config, model, tokenizer)


def test_the_cli_stops_before_training_when_vllm_is_missing(tmp_path, monkeypatch, capsys):
    from toolgym_train.cli import main

    pretend_vllm(monkeypatch, installed=False)
    assert main(["--preset", "tiny-cpu", "--output_dir", str(tmp_path), "--rollout_backend", "vllm-colocate"]) == 2
    assert "needs vLLM" in capsys.readouterr().err and not any(tmp_path.iterdir())  # nothing built or written
    assert main(["--preset", "tiny-cpu", "--output_dir", str(tmp_path), "--use_vllm", "True"]) == 2


def test_the_config_names_the_backends_and_refuses_two_vllm_engines():
    with pytest.raises(ValueError, match="'hf', 'vllm-colocate', 'vllm-server'"):
        ToolGymTrainConfig(rollout_backend="vllm")
    with pytest.raises(ValueError, match="two vLLM engines.*--vllm_mode server"):
        ToolGymTrainConfig(rollout_backend="vllm-server", use_vllm=True, vllm_mode="colocate")
    ToolGymTrainConfig(rollout_backend="vllm-server", use_vllm=True, vllm_mode="server")


@pytest.fixture
def trl_client(monkeypatch):
    """TRL's own client class; it refuses to start without vllm, which it needs only to push weights."""
    import trl.generation.vllm_client as vllm_client

    monkeypatch.setattr(vllm_client, "is_vllm_available", lambda *a, **k: True)
    return vllm_client.VLLMClient


def test_the_server_backend_speaks_trls_generate_protocol_and_rollouts_stay_token_exact(tokenizer, trl_client):
    from toolgym_train.rollout import rollout

    with StubVLLMServer(scripted(tokenizer, SCRIPT)) as server:
        client = trl_client(base_url=server.url, connection_timeout=5)
        generate = ServerGenerator(client, tokenizer.eos_token_id, Sampling(40, 0.7, 0.9))
        episodes = rollout([FakeEnv(), FakeEnv()], generate, tokenizer, seeds=[0, 1])
    assert ("GET", "/health") in server.paths and ("GET", "/v1/models") in server.paths
    assert [len(body["prompt"]) for body in server.requests] == [2, 2]  # one request per turn, both episodes
    body = server.requests[0]
    assert body["prompt"] == [ep.prompt_ids for ep in episodes] and body["model"] == "stub-model"
    assert (body["n"], body["max_tokens"], body["temperature"], body["top_p"]) == (1, 40, 0.7, 0.9)
    assert body["return_token_ids"] and body["logprobs"] is None
    assert body["stop_token_ids"] == [tokenizer.eos_token_id]
    for ep in episodes:
        sampled = [scripted(tokenizer, SCRIPT)(ep.prompt_ids), scripted(tokenizer, SCRIPT)(ep.ids)]
        assert_token_exact(tokenizer, ep.ids, ep.env_mask, len(ep.prompt_ids), ep.messages, ep.tools, sampled)


class RecordingEngine(SimpleNamespace):
    """Stands in for TRL's VLLMGeneration: counts weight syncs."""

    def sync_weights(self) -> None:
        self.syncs += 1


def test_the_server_backend_pushes_the_weights_once_per_sampling_site_unless_trl_just_did(
    tmp_path, model, tokenizer, trl_client, monkeypatch
):
    monkeypatch.setattr(vllm_engines, "require_vllm", lambda what: None)
    monkeypatch.setattr(vllm_engines, "_CLIENTS", {})
    with StubVLLMServer(scripted(tokenizer, SCRIPT)) as server:
        config = config_for(tmp_path, rollout_backend="vllm-server", vllm_server_base_url=server.url)
        main = RecordingEngine(mode="server", vllm_client=trl_client(base_url=server.url), syncs=0)
        monkeypatch.setitem(vllm_engines._ENGINES, "server", main)
        generate = make_generator(config, model, tokenizer)
        assert generate.client is main.vllm_client and main.model is model and main.syncs == 1
        trl_synced = SimpleNamespace(use_vllm=True, vllm_generation=main, model=model)
        make_generator(config, model, tokenizer, trainer=trl_synced)
        assert main.syncs == 1
        make_generator(config, model, tokenizer, trainer=SimpleNamespace(use_vllm=False, model=model))
        assert main.syncs == 2
        other_rank = RecordingEngine(mode="server", syncs=0)  # TRL keeps the client on the main process only
        monkeypatch.setitem(vllm_engines._ENGINES, "server", other_rank)
        generate = make_generator(config, model, tokenizer)
        assert generate.client.base_url == server.url and other_rank.syncs == 1
        assert generate([[1, 2, 3]]) == [scripted(tokenizer, SCRIPT)([1, 2, 3])]


def test_the_colocated_backend_generates_from_token_ids_in_one_call_per_turn(tmp_path, backend, model, tokenizer, monkeypatch):
    from toolgym_train.train import collect

    made: list[dict] = []
    fake_vllm = types.ModuleType("vllm")
    fake_vllm.SamplingParams = lambda **kwargs: made.append(kwargs) or kwargs
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm)
    monkeypatch.setattr(vllm_engines, "require_vllm", lambda what: None)
    calls = []

    def generate(prompts, sampling_params, use_tqdm):
        calls.append(prompts)
        replies = [backend.reply(p["prompt_token_ids"]) + [7] for p in prompts]  # a token past EOS is cut
        return [SimpleNamespace(outputs=[SimpleNamespace(token_ids=ids)]) for ids in replies]

    engine = RecordingEngine(mode="colocate", llm=SimpleNamespace(generate=generate), syncs=0)
    monkeypatch.setitem(vllm_engines._ENGINES, "colocate", engine)
    episodes = collect(model, tokenizer, config_for(tmp_path, rollout_backend="vllm-colocate"), seeds=[0, 0])
    assert engine.syncs == 1 and [len(c) for c in calls] == [2, 2]
    assert calls[0] == [{"prompt_token_ids": ep.prompt_ids} for ep in episodes]
    assert made[0] == {"n": 1, "temperature": 0.7, "top_p": 0.9, "max_tokens": 40, "stop_token_ids": [tokenizer.eos_token_id]}
    for ep in episodes:
        assert ep.turns == SCRIPT
        sampled = [backend.reply(ep.prompt_ids), backend.reply(ep.ids)]
        assert_token_exact(tokenizer, ep.ids, ep.env_mask, len(ep.prompt_ids), ep.messages, ep.tools, sampled)


class HFBackedEngine(RecordingEngine):
    """Stands in for TRL's colocated VLLMGeneration inside a GRPO trainer: samples with HF generate."""

    def generate(self, prompts, images, num_generations, profiler=None):
        self.calls.append(len(prompts))
        completions = HFGenerator(self.model, self.tokenizer, self.max_new_tokens, 1.0)(prompts)
        logprobs = [[[0.0] for _ in ids] for ids in completions]  # per token, as TRL's engine returns them
        return prompts, completions, logprobs, None


def test_grpo_generates_with_the_shared_engine_when_use_vllm(tmp_path, model, tokenizer, monkeypatch):
    """TRL would build an engine per trainer; the trainer gets the process's one, and TRL syncs it."""
    from toolgym_train.step import train_step_mode
    from toolgym_train.train import collect

    monkeypatch.setattr(vllm_engines, "require_vllm", lambda what: None)
    engine = HFBackedEngine(mode="colocate", syncs=0, calls=[], tokenizer=tokenizer, max_new_tokens=8)
    monkeypatch.setitem(vllm_engines._ENGINES, "colocate", engine)
    config = config_for(tmp_path, use_vllm=True, max_new_tokens=8, steps_per_iteration=1, learning_rate=1e-3)
    episodes = collect(model, tokenizer, config, seeds=[3])  # rollout_backend hf
    trained, log = train_step_mode(model, tokenizer, config, episodes, str(tmp_path / "grpo"))
    assert engine.syncs == 1 and engine.calls == [2]  # one prompt, num_generations completions
    assert engine.model is trained and max(e.get("step", 0) for e in log) == 1
