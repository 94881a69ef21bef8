"""Each training mode learns from the env's reward on the tiny model; step-mode rewards are env.step's."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import SMALL_ENV

from toolgym.evaluate import reset_to_prefix
from toolgym_train.config import ToolGymTrainConfig
from toolgym_train.rollout import HFGenerator, rollout


def small_config(tmp_path, **overrides) -> ToolGymTrainConfig:
    base = dict(
        output_dir=str(tmp_path),
        env_id="ToolGym/SingleHop-v0",
        env_kwargs=SMALL_ENV,
        max_turns=3,
        iterations=1,
        episodes_per_iteration=2,
        steps_per_iteration=2,
        num_generations=2,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        beta=0.0,
        max_new_tokens=40,
        max_length=4096,
        eval_episodes=0,
    )
    return ToolGymTrainConfig(**{**base, **overrides})


def snapshot(model) -> dict:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def changed(before: dict, model) -> bool:
    return any(not v.equal(before[k]) for k, v in model.named_parameters())


def empty_reply_probability(model, tokenizer, config, temperature: float = 1.0) -> float:
    """Mean probability that the policy's one-token reply is empty (EOS or whitespace), which the
    env penalizes with -0.5, at the opening prompts of the first iteration's training seeds."""
    import torch

    from toolgym.hf import render_ids
    from toolgym_train.policy import make_env

    empty = [t for t in range(len(tokenizer)) if not tokenizer.decode([t], skip_special_tokens=True).strip()]
    first = config.train_seed + config.warm_start_episodes
    env, total = make_env(config), 0.0
    for seed in range(first, first + config.episodes_per_iteration):
        obs, _ = env.reset(seed=seed)
        ids = render_ids(tokenizer, obs["messages"], obs["tools"], add_generation_prompt=True)
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
        total += float(torch.softmax(logits.float() / temperature, -1)[empty].sum())
    env.close()
    return total / config.episodes_per_iteration


def track_envs(monkeypatch) -> list:
    """Records every env training makes, and whether it was closed."""
    import toolgym_train.policy

    made, make = [], toolgym_train.policy.make_env

    def tracked(config, curriculum=None):
        env = make(config, curriculum)
        env.closed, close = False, env.close

        def closing():
            env.closed = True
            close()

        env.close = closing
        made.append(env)
        return env

    monkeypatch.setattr(toolgym_train.policy, "make_env", tracked)
    return made


def capture_pairs(monkeypatch) -> list[dict]:
    """Records the preference pairs DPO mode builds."""
    import toolgym_train.dpo

    pairs: list[dict] = []
    build = toolgym_train.dpo.preference_rows
    monkeypatch.setattr(toolgym_train.dpo, "preference_rows", lambda *a, **k: pairs.extend(build(*a, **k)) or pairs)
    return pairs


def preference_margin(model, tokenizer, pairs) -> float:
    """Mean log-probability of the chosen completions minus the rejected ones, as DPO tokenizes them."""
    import torch

    def logp(prompt: str, completion: str) -> float:
        head = tokenizer.encode(prompt, add_special_tokens=False)
        tail = tokenizer.encode(completion, add_special_tokens=False) + [tokenizer.eos_token_id]
        with torch.no_grad():
            logits = model(torch.tensor([head + tail])).logits[0, len(head) - 1 : -1].float()
        return float(torch.log_softmax(logits, -1)[torch.arange(len(tail)), torch.tensor(tail)].sum())

    return sum(logp(p["prompt"], p["chosen"]) - logp(p["prompt"], p["rejected"]) for p in pairs) / len(pairs)


@pytest.mark.parametrize(
    "mode, algorithm", [("step", "grpo"), ("step", "rloo"), ("dpo", "grpo"), ("episode", "grpo")]
)
def test_each_mode_learns_from_the_env_reward_to_avoid_empty_replies(
    tmp_path, warm_model, tokenizer, mode, algorithm, monkeypatch
):
    """One-token replies: an empty one scores the env's -0.5, any other 0 (a wrong answer). The
    warm model's most likely reply is a newline; sampled at a temperature where half the replies
    are empty, samples differ in env reward, and training on that reward alone must make empty
    replies less likely."""
    from toolgym.scenario import Scenario
    from toolgym_train.policy import make_env
    from toolgym_train.step import PrefixReward
    from toolgym_train.train import train_iteration

    scored = []  # every (completion, scenario, replay, reward) the trainer got from the env
    env_score = PrefixReward.score

    def spy(self, text, scenario, replay):
        reward = env_score(self, text, scenario, replay)
        scored.append((text, scenario, replay, reward))
        return reward

    monkeypatch.setattr(PrefixReward, "score", spy)
    probe = small_config(tmp_path, episodes_per_iteration=4)
    # the sampling temperature at which about half of the one-token replies are empty
    temperature = min((0.02 * k for k in range(1, 50)),
                      key=lambda t: abs(empty_reply_probability(warm_model, tokenizer, probe, t) - 0.5))
    config = small_config(
        tmp_path, mode=mode, algorithm=algorithm, temperature=temperature, max_new_tokens=1,
        episodes_per_iteration=4, num_generations=4, per_device_train_batch_size=4,
        beta=0.1 if mode == "dpo" else 0.0, learning_rate=3e-3,
    )
    pairs = capture_pairs(monkeypatch)
    made = track_envs(monkeypatch)
    before = snapshot(warm_model)
    reference = copy.deepcopy(warm_model)
    trained, _, log = train_iteration(warm_model, tokenizer, config, iteration=0)
    assert "note" not in log[0], log[0]  # DPO found pairs
    assert max(e.get("step", 0) for e in log) == 2
    assert made and all(env.closed for env in made)  # a sandboxed env holds a worker process
    assert changed(before, trained)
    if mode == "dpo":  # DPO learns on the texts of its pairs: the chosen ones must gain on the rejected
        assert preference_margin(trained, tokenizer, pairs) > preference_margin(reference, tokenizer, pairs)
    else:
        assert empty_reply_probability(trained, tokenizer, config) < empty_reply_probability(
            reference, tokenizer, config
        )
    env = make_env(config)  # the rewards the trainer saw are env.step's, recomputed on a fresh env
    for text, scenario, replay, reward in scored[:8]:
        reset_to_prefix(env, replay, options={"scenario": Scenario.model_validate_json(scenario)})
        assert env.step(text)[1] == reward
    env.close()
    assert mode == "episode" or {0.0, -0.5} <= {r for *_, r in scored} <= {0.0, -0.3, -0.5}  # -0.3: a lone "<tool_call>"


def test_step_mode_rewards_equal_env_step_rewards_for_the_same_prefixes(tmp_path, model, tokenizer):
    from toolgym.oracle import OracleAgent
    from toolgym_train.policy import make_env
    from toolgym_train.step import PrefixReward, prefix_rows

    config = small_config(tmp_path)
    envs = [make_env(config) for _ in range(2)]
    episodes = rollout(envs, HFGenerator(model, tokenizer, 12), tokenizer, seeds=[3, 4])
    rows = prefix_rows(episodes, tokenizer)
    assert len(rows) == sum(len(ep.turns) for ep in episodes)
    reward = PrefixReward(lambda: make_env(config))
    env = make_env(config)
    oracle = OracleAgent(env)
    for row in rows:
        scenario = reward._load(row["scenario"])
        obs, _ = reset_to_prefix(env, json.loads(row["replay"]), options={"scenario": scenario})
        for completion in (oracle.act(obs), "<answer>nothing</answer>", ""):
            reset_to_prefix(env, json.loads(row["replay"]), options={"scenario": scenario})
            expected = env.step(completion)[1]
            assert reward([completion], scenario=[row["scenario"]], replay=[row["replay"]]) == [
                expected
            ]
    sampled = [(ep, k) for ep in episodes for k in range(len(ep.turns))]
    for (ep, k), row in zip(
        sampled, rows, strict=True
    ):  # the rollout's own rewards, recomputed per prefix
        assert reward([ep.turns[k]], scenario=[row["scenario"]], replay=[row["replay"]]) == [
            ep.rewards[k]
        ]


def test_targeted_training_changes_only_the_chosen_modules_and_layers(tmp_path, warm_model, tokenizer):
    from toolgym_train.analyze import module_of
    from toolgym_train.train import train_iteration

    probe = small_config(tmp_path, episodes_per_iteration=4)
    temperature = min((0.02 * k for k in range(1, 50)),
                      key=lambda t: abs(empty_reply_probability(warm_model, tokenizer, probe, t) - 0.5))
    config = small_config(
        tmp_path, temperature=temperature, max_new_tokens=1, episodes_per_iteration=4, num_generations=4,
        per_device_train_batch_size=4, learning_rate=3e-3, train_modules="mlp", train_layers="0",
    )
    before = snapshot(warm_model)
    trained, _, _ = train_iteration(warm_model, tokenizer, config, iteration=0)
    moved = {name for name, p in trained.named_parameters() if not p.equal(before[name])}
    assert moved and all(module_of(name) in {(0, "mlp.gate"), (0, "mlp.up"), (0, "mlp.down")} for name in moved)


def test_lora_targets_follow_the_chosen_modules_and_layers(tiny_dir):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from toolgym_train.step import peft_config

    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    config = small_config("unused", use_peft=True, train_modules="mlp.down,attn.q", train_layers="lower_half")
    peft_model = get_peft_model(model, peft_config(config, model))
    trained = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trained and all(".layers.0." in n and ("down_proj" in n or "q_proj" in n) for n in trained)
