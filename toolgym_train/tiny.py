"""The offline default policy: a tiny Qwen2-architecture model and a BPE tokenizer trained locally.

Nothing here touches the Hugging Face Hub. The tokenizer is trained with the ``tokenizers`` library
on ToolGym text (oracle transcripts rendered by the chat template, tool documents included), wrapped
as a :class:`~transformers.PreTrainedTokenizerFast` with Qwen2.5's tool-calling chat template (the
training variant, whose ``{% generation %}`` markers give SFT an assistant-only loss, without Qwen's
generic tool-use preamble, which ToolGym's system prompt already covers) and a response
template, so ``tokenizer.parse_response`` returns the tool calls. The model is a randomly initialized
:class:`~transformers.Qwen2ForCausalLM` of a few million parameters.

Example:
    >>> from toolgym_train.tiny import build_tiny_tokenizer, build_tiny_model
    >>> tok = build_tiny_tokenizer(["<|im_start|>user\\nhi<|im_end|>"] * 10, vocab_size=300)
    >>> model = build_tiny_model(tok, hidden_size=32, num_layers=1)
    >>> model.config.vocab_size == len(tok)
    True
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AddedToken, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
from trl.chat_template_utils import qwen2_5_training_chat_template

__all__ = [
    "CHAT_TEMPLATE",
    "RESPONSE_TEMPLATE",
    "SPECIAL_TOKENS",
    "TOOL_TOKENS",
    "build_tiny",
    "build_tiny_model",
    "build_tiny_tokenizer",
    "corpus_from_transcripts",
    "oracle_transcripts",
]

SPECIAL_TOKENS: tuple[str, ...] = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
"""Control tokens: padding, turn start, turn end (the EOS of a turn)."""

TOOL_TOKENS: tuple[str, ...] = (
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
)
"""Tool-use tags: added tokens that are not special, so decoding keeps them (as in Qwen2.5)."""

_QWEN_TOOLS_HEADER = (
    "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n"
    "You are provided with function signatures within <tools></tools> XML tags:\\n<tools>"
)
_QWEN_TOOLS_FOOTER = (
    "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments "
    'within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, '
    '\\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n'
)


def _compact_template(template: str) -> str:
    """Qwen2.5's template without its ~100-token tool preamble (ToolGym's system prompt says it)."""
    for old, new in (
        (_QWEN_TOOLS_HEADER, "\\n<tools>"),
        (_QWEN_TOOLS_FOOTER, "\\n</tools><|im_end|>\\n"),
    ):
        if old not in template:
            raise RuntimeError(
                "TRL's Qwen2.5 training template changed; update tiny._compact_template."
            )
        template = template.replace(old, new)
    return template


CHAT_TEMPLATE: str = _compact_template(qwen2_5_training_chat_template)
"""Qwen2.5's tool-use template with ``{% generation %}`` markers (TRL's training variant), minus the
generic tool-use preamble: tools are listed in ``<tools></tools>`` after the system message, and
turns, tool calls and tool responses render exactly as in Qwen2.5. That makes a compact ToolGym
episode ~20% shorter (~375 instead of ~470 tokens), and the tiny model's steps as much cheaper."""

RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "tool_calls": {
            "open": "<tool_call>",
            "close_pattern": r"</tool_call>\s*",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}
"""transformers' response template for ``tokenizer.parse_response``: Qwen's format, no reasoning."""

# Qwen2's pre-tokenizer: digits one by one, newlines apart from text, punctuation runs grouped.
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def build_tiny_tokenizer(texts: Iterable[str], vocab_size: int = 3000) -> PreTrainedTokenizerFast:
    """Trains a byte-level BPE tokenizer on ``texts`` and wraps it for transformers.

    Args:
        texts: Training text, e.g. rendered transcripts (see :func:`corpus_from_transcripts`).
        vocab_size: Target vocabulary size, added tokens included.

    Returns:
        A fast tokenizer with the chat template, the response template, ``eos_token="<|im_end|>"``,
        ``pad_token="<|endoftext|>"`` and left padding (as GRPO generation needs).
    """
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_strip_added(texts), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        clean_up_tokenization_spaces=False,
        model_max_length=8192,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in TOOL_TOKENS])
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.response_template = copy.deepcopy(RESPONSE_TEMPLATE)
    return tokenizer


def _strip_added(texts: Iterable[str]) -> Iterable[str]:
    """Removes the added tokens from training text so BPE merges never learn them as pieces."""
    for text in texts:
        for token in (*SPECIAL_TOKENS, *TOOL_TOKENS):
            text = text.replace(token, "\n")
        yield text


def build_tiny_model(
    tokenizer: PreTrainedTokenizerFast,
    hidden_size: int = 192,
    num_layers: int = 3,
    num_heads: int = 4,
    max_positions: int = 8192,
    seed: int = 0,
) -> Qwen2ForCausalLM:
    """Builds a randomly initialized Qwen2 causal LM sized to ``tokenizer``.

    Args:
        tokenizer: The tokenizer whose vocabulary and special tokens the model uses.
        hidden_size: Width of the residual stream.
        num_layers: Number of decoder layers.
        num_heads: Attention heads (two key/value heads when divisible, else as many as heads).
        max_positions: Longest sequence (prompt + episode) the model accepts.
        seed: Seed of the weight initialization.

    Returns:
        The model in float32, with generation stopping at ``<|im_end|>``.
    """
    import torch

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 3,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=2 if num_heads % 2 == 0 else num_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None
    return model


def corpus_from_transcripts(
    tokenizer_like: Any, transcripts: Iterable[tuple[Sequence[dict[str, Any]], Sequence[dict]]]
) -> list[str]:
    """Renders ``(messages, tools)`` pairs with the chat template, as tokenizer training text.

    Args:
        tokenizer_like: Anything with ``apply_chat_template`` (the template does not depend on the
            vocabulary, so a tokenizer trained on a few words renders as well as the final one).
        transcripts: Conversations and the tool documents they were played with.
    """
    return [
        tokenizer_like.apply_chat_template(
            list(messages), tools=list(tools) or None, tokenize=False
        )
        for messages, tools in transcripts
    ]


def oracle_transcripts(
    n: int, env_id: str = "ToolGym/Scenario-v0", seed: int = 0, **knobs: Any
) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Plays the oracle for ``n`` episodes and returns each final chat and its tool documents.

    Args:
        n: Number of episodes (seeds ``seed .. seed + n - 1``).
        env_id: Registered ToolGym env id.
        seed: First seed.
        **knobs: ``gym.make`` keyword arguments.
    """
    import gymnasium as gym

    import toolgym  # noqa: F401  (registers the ids)
    from toolgym.evaluate import play_episode
    from toolgym.oracle import OracleAgent

    env = gym.make(env_id, **knobs)
    try:
        out = []
        for i in range(n):
            record = play_episode(env, OracleAgent(), seed=seed + i)
            out.append((record["messages"], env.unwrapped.scenario.tool_docs))
        return out
    finally:
        env.close()


def build_tiny(
    transcripts: Sequence[tuple[Sequence[dict[str, Any]], Sequence[dict]]] | None = None,
    out_dir: str | Path | None = None,
    vocab_size: int = 3000,
    n_scenarios: int = 2000,
    **model_kwargs: Any,
) -> tuple[Qwen2ForCausalLM, PreTrainedTokenizerFast]:
    """Builds the tiny model and its tokenizer, trained on oracle transcripts; optionally saves them.

    Args:
        transcripts: ``(messages, tools)`` pairs to train the tokenizer on; by default
            ``n_scenarios`` oracle episodes of ``ToolGym/Scenario-v0``.
        out_dir: When given, ``save_pretrained`` both there (load back with ``from_pretrained``).
        vocab_size: BPE vocabulary size.
        n_scenarios: Number of oracle episodes when ``transcripts`` is None.
        **model_kwargs: Passed to :func:`build_tiny_model`.
    """
    if transcripts is None:
        transcripts = oracle_transcripts(n_scenarios)
    renderer = build_tiny_tokenizer(["bootstrap"], vocab_size=300)
    tokenizer = build_tiny_tokenizer(corpus_from_transcripts(renderer, transcripts), vocab_size)
    model = build_tiny_model(tokenizer, **model_kwargs)
    if out_dir is not None:
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    return model, tokenizer
