"""Sampling from the policy: the one factory every sampling site of a run builds its generator with.

The training rollouts (step and DPO modes), episode mode's ``rollout_func``, DPO's preference samples
and the held-out evaluation all sample through :func:`make_generator`. It returns a
:data:`toolgym.hf.Generate` (a batch of prompt ids to a batch of sampled ids, each ending with EOS if
it ended) on the run's ``rollout_backend``, with the run's sampling settings:

- ``hf``: ``model.generate`` on left-padded batches (:class:`toolgym.hf.HFGenerator`), the default;
- ``vllm-colocate``: a vLLM engine in this process (TRL's, shared with GRPO's ``use_vllm``);
- ``vllm-server``: TRL's client to a ``trl vllm-serve`` server, weights pushed by TRL's sync
  (see :mod:`toolgym_train.vllm_engines`).

A backend maps ids to ids and nothing else: :class:`toolgym.hf.TokenAgent` keeps the sampled ids,
appends the tool messages as the chat template renders them and masks them, so every backend's
rollouts are token-exact. Callers hand a backend a whole turn of every live episode at once.

:data:`BACKENDS` maps each name to its builder; adding an entry plugs in another engine.

Example:
    >>> from toolgym_train.config import ToolGymTrainConfig
    >>> config = ToolGymTrainConfig(rollout_backend="vllm-colocate")
    >>> sampling_of(config, temperature=0.0)
    Sampling(max_new_tokens=1024, temperature=0.0, top_p=1.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolgym.hf import Generate, HFGenerator

if TYPE_CHECKING:
    from toolgym_train.config import ToolGymTrainConfig

__all__ = ["BACKENDS", "Backend", "Sampling", "check_backends", "hf_generator", "make_generator", "sampling_of"]


@dataclass(frozen=True)
class Sampling:
    """How one sampling site samples: the run's settings, with the site's own temperature."""

    max_new_tokens: int
    """Longest turn in tokens."""
    temperature: float
    """Sampling temperature; 0 decodes greedily."""
    top_p: float = 1.0
    """Nucleus sampling mass."""


Backend = Callable[["ToolGymTrainConfig", Any, Any, Any, Sampling], Generate]
"""Builds a generator from ``(config, model, tokenizer, trainer or None, sampling)``."""


def sampling_of(config: ToolGymTrainConfig, temperature: float | None = None) -> Sampling:
    """The run's sampling settings, at ``temperature`` when given (else ``config.temperature``)."""
    chosen = config.temperature if temperature is None else temperature
    return Sampling(max_new_tokens=config.max_new_tokens, temperature=chosen, top_p=config.top_p)


def make_generator(
    config: ToolGymTrainConfig,
    model: Any,
    tokenizer: Any,
    trainer: Any = None,
    temperature: float | None = None,
) -> Generate:
    """The policy's generator for one sampling site, on ``config.rollout_backend``.

    Args:
        config: The run's config: ``rollout_backend``, ``max_new_tokens``, ``temperature``, ``top_p``.
        model: The policy (a trainer's ``model`` when ``trainer`` is given).
        tokenizer: Its tokenizer (EOS and pad tokens set).
        trainer: The TRL trainer that samples (episode mode's ``rollout_func``): its current model is
            sampled, and its vLLM engine reused when it has the backend's one.
        temperature: This site's temperature (evaluation's, DPO's floor); default ``config.temperature``.

    Returns:
        A :data:`toolgym.hf.Generate`. Outside a trainer, a vLLM backend's weights are the model's now.

    Raises:
        ValueError: A vLLM backend where vLLM is not installed or no CUDA GPU is visible (never a
            silent fall back to ``hf``).
    """
    build = BACKENDS[config.rollout_backend]
    return build(config, model, tokenizer, trainer, sampling_of(config, temperature))


def hf_generator(config: ToolGymTrainConfig, model: Any, tokenizer: Any, trainer: Any, sampling: Sampling) -> Generate:
    """The ``hf`` backend: :class:`toolgym.hf.HFGenerator` on the (unwrapped) model."""
    if trainer is not None:
        model = trainer.accelerator.unwrap_model(model)
    return HFGenerator(model, tokenizer, sampling.max_new_tokens, sampling.temperature, sampling.top_p)


def _colocate(config: ToolGymTrainConfig, model: Any, tokenizer: Any, trainer: Any, sampling: Sampling) -> Generate:
    from toolgym_train.vllm_engines import colocate_generator

    return colocate_generator(config, model, tokenizer, trainer, sampling)


def _server(config: ToolGymTrainConfig, model: Any, tokenizer: Any, trainer: Any, sampling: Sampling) -> Generate:
    from toolgym_train.vllm_engines import server_generator

    return server_generator(config, model, tokenizer, trainer, sampling)


BACKENDS: dict[str, Backend] = {"hf": hf_generator, "vllm-colocate": _colocate, "vllm-server": _server}
"""Rollout backends by name (``config.rollout_backend``), each a :data:`Backend`."""


def check_backends(config: ToolGymTrainConfig) -> None:
    """Raises a ValueError at once when the run asks for vLLM (``rollout_backend`` or ``use_vllm``) and
    this machine cannot run it, rather than after the warm start."""
    from toolgym_train.vllm_engines import require_vllm

    if config.rollout_backend in ("vllm-colocate", "vllm-server"):
        require_vllm(f"rollout_backend={config.rollout_backend!r}")
    if config.use_vllm:
        require_vllm("use_vllm=True")
