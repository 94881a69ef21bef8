"""Rollouts are token-exact and mask exactly the tool tokens."""

from __future__ import annotations

from train_fakes import FakeEnv, canonical_call

from toolgym_train.rollout import HFGenerator, render_ids, rollout


def scripted_policy(tokenizer, script: list[str]):
    """A generator that writes ``script[k]`` (canonically tokenized, then EOS) at turn k."""
    turn = {"k": 0}

    def generate(batch: list[list[int]]) -> list[list[int]]:
        text = script[turn["k"]]
        turn["k"] += 1
        ids = tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_token_id]
        return [list(ids) for _ in batch]

    return generate


def test_rollout_ids_equal_the_template_rendering_of_the_final_chat(tokenizer):
    script = [canonical_call("film_lookup", {"title": "Blue Moon"}), "<answer>Ann Lee</answer>"]
    envs = [FakeEnv(), FakeEnv()]
    episodes = rollout(envs, scripted_policy(tokenizer, script), tokenizer, seeds=[0, 0])
    for ep in episodes:
        rendered = render_ids(tokenizer, ep.messages, ep.tools)
        newline = tokenizer.encode("\n", add_special_tokens=False)
        assert ep.ids + newline == rendered  # the template closes the last turn with "<|im_end|>\n"
        assert ep.turns == script and not ep.record["truncated"]


def test_env_mask_covers_exactly_the_tool_tokens(tokenizer):
    script = [canonical_call("film_lookup", {"title": "Blue Moon"}), "<answer>Ann Lee</answer>"]
    (ep,) = rollout([FakeEnv()], scripted_policy(tokenizer, script), tokenizer, seeds=[0])
    sampled = [
        tokenizer.encode(t, add_special_tokens=False) + [tokenizer.eos_token_id] for t in script
    ]
    tool_part = render_ids(tokenizer, ep.messages[:4], ep.tools, add_generation_prompt=True)
    tool_ids = tool_part[len(ep.prompt_ids) + len(sampled[0]) :]
    assert ep.completion_ids == sampled[0] + tool_ids + sampled[1]
    assert ep.env_mask == [1] * len(sampled[0]) + [0] * len(tool_ids) + [1] * len(sampled[1])
    assert "Ann Lee" in tokenizer.decode(tool_ids) and "<tool_response>" in tokenizer.decode(
        tool_ids
    )


def test_rollout_with_a_sampled_policy_keeps_ids_and_mask_aligned(model, tokenizer):
    generate = HFGenerator(model, tokenizer, max_new_tokens=8)
    episodes = rollout([FakeEnv(), FakeEnv()], generate, tokenizer, seeds=[0, 1])
    for ep in episodes:
        assert len(ep.completion_ids) == len(ep.env_mask)
        assert ep.completion_ids[-1] == tokenizer.eos_token_id
        assert len(ep.turns) == len(ep.rewards) == len(ep.states)


def test_enable_thinking_reaches_the_chat_template_in_rollouts_prompts_and_evaluation(tokenizer):
    import copy

    from toolgym.hf import TokenAgent
    from toolgym_train.config import ToolGymTrainConfig
    from toolgym_train.step import prefix_rows

    marked = copy.deepcopy(tokenizer)
    marked.chat_template = "{% if enable_thinking %}THINKING{% endif %}" + tokenizer.chat_template
    kwargs = ToolGymTrainConfig(enable_thinking=True).chat_template_kwargs
    assert kwargs == {"enable_thinking": True}
    script = [canonical_call("film_lookup", {"title": "Blue Moon"}), "<answer>Ann Lee</answer>"]
    (ep,) = rollout([FakeEnv()], scripted_policy(marked, script), marked, seeds=[0], chat_template_kwargs=kwargs)
    assert marked.decode(ep.prompt_ids).startswith("THINKING") and ep.turns == script  # token-exact still
    assert all(row["prompt"].startswith("THINKING") for row in prefix_rows([ep], marked, kwargs))
    agent = TokenAgent(lambda batch: [[marked.eos_token_id] for _ in batch], marked, chat_template_kwargs=kwargs)
    env = FakeEnv()
    obs, _ = env.reset(seed=0)
    agent.act(obs, env)
    assert marked.decode(agent.trace(env).prompt_ids).startswith("THINKING")
    plain = TokenAgent(lambda batch: [[marked.eos_token_id] for _ in batch], marked)
    plain.act(obs, env)
    assert not marked.decode(plain.trace(env).prompt_ids).startswith("THINKING")
