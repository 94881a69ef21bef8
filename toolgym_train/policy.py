"""Loading the policy and its tokenizer, and checking that they can play ToolGym envs."""

from __future__ import annotations

from typing import Any

from toolgym_train.config import ToolGymTrainConfig

__all__ = ["check_tokenizer", "load_policy", "make_env", "check_env_id"]


def check_env_id(env_id: str) -> None:
    """Raises a ValueError naming the close ToolGym ids when ``env_id`` is not registered."""
    import difflib

    import gymnasium as gym

    import toolgym  # noqa: F401  (registers the ids)

    if env_id in gym.registry:
        return
    known = sorted(k for k in gym.registry if k.startswith("ToolGym/"))
    close = difflib.get_close_matches(env_id, known, n=3, cutoff=0.4)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"Unknown env id {env_id!r}.{hint} ToolGym ids: {', '.join(known)}.")


def make_env(config: ToolGymTrainConfig, curriculum: Any = None) -> Any:
    """Makes one env of ``config.env_id`` with its knobs and turn limit.

    Args:
        config: The run's config.
        curriculum: The run's :class:`toolgym.wrappers.CurriculumSchedule` (training rollouts of a
            ``--curriculum`` run): the env is wrapped in a :class:`toolgym.wrappers.Curriculum` that
            shares it. None: the env as ``env_kwargs`` make it (held-out evaluation, reward replays).
    """
    import gymnasium as gym

    import toolgym  # noqa: F401

    env = gym.make(config.env_id, max_episode_steps=config.max_turns, **(config.env_kwargs or {}))
    if curriculum is None:
        return env
    from toolgym.wrappers import Curriculum

    return Curriculum(env, schedule=curriculum)


def check_tokenizer(tokenizer: Any) -> None:
    """Checks that ``tokenizer`` renders tool-use chats and can parse tool calls back.

    Sets ``padding_side="left"`` and a pad token (EOS) when missing, and a response template for
    chat templates TRL knows (``trl.chat_template_utils.add_response_schema``).

    Raises:
        ValueError: When the chat template is missing, drops tools, tool calls or tool messages.
    """
    from trl.chat_template_utils import add_response_schema, supports_tool_calling

    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            "The tokenizer has no chat template. Use an instruct/chat model (e.g. Qwen2.5-*-Instruct) or set "
            "tokenizer.chat_template to a template that renders `tools`, assistant `tool_calls` and `tool` messages."
        )
    if not supports_tool_calling(tokenizer):
        raise ValueError(
            "The tokenizer's chat template does not render a tool-calling chat (tools, assistant tool_calls, "
            "tool messages). Use a tool-use model such as Qwen2.5-*-Instruct or Qwen3, or replace "
            "tokenizer.chat_template with one from trl/chat_templates/ (e.g. qwen2_5.jinja)."
        )
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(tokenizer, "response_template", None) is None:
        try:
            add_response_schema(tokenizer)
        except ValueError:
            pass  # parsing is optional: the env reads raw text


def load_policy(config: ToolGymTrainConfig) -> tuple[Any, Any]:
    """Builds the tiny model or loads ``config.model``; returns ``(model, tokenizer)``, checked.

    Raises:
        ValueError: When the model or tokenizer cannot be loaded, with what to pass instead.
    """
    if config.model == "tiny":
        from toolgym_train.tiny import build_tiny, oracle_transcripts

        transcripts = oracle_transcripts(
            config.tiny_tokenizer_episodes,
            config.env_id,
            config.train_seed,
            **(config.env_kwargs or {}),
        )
        model, tokenizer = build_tiny(
            transcripts,
            vocab_size=config.tiny_vocab_size,
            hidden_size=config.tiny_hidden_size,
            num_layers=config.tiny_layers,
            seed=config.seed,
        )
    else:
        model, tokenizer = _load_pretrained(config)
    check_tokenizer(tokenizer)
    return model, tokenizer


def _load_pretrained(config: ToolGymTrainConfig) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.bfloat16 if config.bf16 else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(config.tokenizer or config.model)
        model = AutoModelForCausalLM.from_pretrained(config.model, dtype=dtype)
    except OSError as err:
        raise ValueError(
            f"Cannot load model {config.model!r}: {err}. Pass a directory written by save_pretrained, a Hub "
            "id reachable from this machine, or --model tiny."
        ) from None
    return model, tokenizer
