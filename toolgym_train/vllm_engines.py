"""The vLLM rollout backends: one engine per process, shared by every sampling site and by TRL.

Both backends sample with TRL's own engine, :class:`trl.generation.vllm_generation.VLLMGeneration` (what
GRPO builds for ``use_vllm``): ``vllm-colocate`` holds a vLLM ``LLM`` in this process, ``vllm-server``
TRL's :class:`~trl.generation.vllm_client.VLLMClient` to a ``trl vllm-serve`` server (TRL >= 1.16 runs
``vllm serve`` with its weight-transfer engine; the client posts token ids to ``/v1/completions``).
Weights reach vLLM as TRL pushes them after an optimizer step (``sync_weights``: LoRA adapters merged,
ZeRO-3 parameters gathered, NCCL broadcast to the server).

A process holds at most one engine per mode (:func:`engine`). The rollouts, the held-out evaluation,
DPO's samples and, through :func:`attach_engine`, GRPO's and RLOO's own completions all use it: TRL
would build an engine in every trainer, a run builds a trainer per iteration, and a second colocated
engine does not fit beside the first.

Prompts go in as token ids and the sampled ids come back cut after the first EOS, as
:class:`toolgym.hf.HFGenerator` returns them, so rollouts stay token-exact. vllm and the GPU checks
are imported and run only when a backend is built: this module imports nothing heavy.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolgym.hf import until_eos
from toolgym_train.generation import Sampling

if TYPE_CHECKING:
    from toolgym_train.config import ToolGymTrainConfig

__all__ = [
    "ColocateGenerator", "ServerGenerator", "attach_engine", "colocate_generator", "engine", "require_vllm",
    "server_generator",
]

_ENGINES: dict[str, Any] = {}
"""This process's engine per vLLM mode ("colocate", "server")."""

_CLIENTS: dict[str, Any] = {}
"""Generation-only clients by server URL, for processes whose engine holds none (TRL's engine keeps the
client, and its weight-sync group, on the main process only)."""

SERVER_TIMEOUT_S = 240.0
"""How long a client waits for the server to come up (TRL's default)."""


def require_vllm(what: str) -> None:
    """Raises a ValueError, naming ``what`` asked for vLLM, when vLLM, a CUDA GPU or TRL's engine is missing."""
    instead = "or use --rollout_backend hf and --use_vllm False (Hugging Face generate)"
    if importlib.util.find_spec("vllm") is None:
        raise ValueError(
            f"{what} needs vLLM, which is not installed here. Install it on a CUDA machine "
            f"(pip install -e '.[train,vllm]'), {instead}."
        )
    import torch

    if not torch.cuda.is_available():
        raise ValueError(
            f"{what} needs vLLM on a CUDA GPU, and no GPU is visible (torch.cuda.is_available() is False). "
            f"Run on a GPU machine (check CUDA_VISIBLE_DEVICES), {instead}."
        )
    if importlib.util.find_spec("trl.generation.vllm_generation") is None:
        raise ValueError(f"{what} needs TRL's vLLM engine (trl.generation.vllm_generation): pip install -U 'trl[vllm]>=1.16'.")


def engine(mode: str, model: Any, tokenizer: Any, config: ToolGymTrainConfig, accelerator: Any = None) -> Any:
    """This process's vLLM engine of ``mode`` (``"colocate"`` or ``"server"``), built on first use
    (with ``accelerator``, a trainer's, when given).

    The engine is pointed at ``model``; its weights are those of its last ``sync_weights()``.
    """
    built = _ENGINES.get(mode)
    if built is None:
        built = _ENGINES[mode] = _build(mode, model, tokenizer, config, accelerator)
    built.model = model
    return built


def _build(mode: str, model: Any, tokenizer: Any, config: ToolGymTrainConfig, accelerator: Any) -> Any:
    """A TRL engine with the run's settings; its sampling settings are what GRPO would give it."""
    from accelerate import Accelerator
    from trl.generation.vllm_generation import VLLMGeneration

    if accelerator is None:  # the process's accelerate state, as the run's trainers set it up
        accelerator = Accelerator(mixed_precision="bf16" if config.bf16 else "no")
    if mode == "colocate":
        _ensure_loadable(model, tokenizer, config, accelerator)
    return VLLMGeneration(
        model, accelerator, tokenizer, mode=mode,
        server_base_url=config.vllm_server_base_url, server_timeout=SERVER_TIMEOUT_S,
        gpu_memory_utilization=config.vllm_gpu_memory_utilization,
        max_model_length=_context_length(model, config),
        temperature=config.temperature, top_p=config.top_p, max_completion_length=config.max_new_tokens,
        logprobs=0,  # GRPO's importance-sampling correction reads the sampled tokens' logprobs
    )


def _ensure_loadable(model: Any, tokenizer: Any, config: ToolGymTrainConfig, accelerator: Any) -> None:
    """vLLM builds its engine from ``model.name_or_path``; a model made in memory (the tiny one) is saved
    under ``output_dir/vllm_base`` first (the weights are synced before every use anyway)."""
    if getattr(model, "name_or_path", ""):
        return
    path = Path(config.output_dir) / "vllm_base"
    if accelerator.is_main_process:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    accelerator.wait_for_everyone()
    model.config._name_or_path = str(path)


def _context_length(model: Any, config: ToolGymTrainConfig) -> int:
    """The longest episode plus one turn (a rollout stops an episode before ``max_length``), within the
    model's positions."""
    wanted = config.max_length + config.max_new_tokens
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return min(wanted, positions) if positions else wanted


def attach_engine(trainer: Any, tokenizer: Any, config: ToolGymTrainConfig) -> None:
    """Gives a TRL GRPO or RLOO trainer this process's engine for its own completions, when ``config.use_vllm``.

    The trainer was built with ``use_vllm=False`` (:func:`toolgym_train.step.rl_args`), so TRL made no
    engine; this sets what TRL's ``use_vllm`` sets, with the shared engine, and TRL then syncs the
    weights before its first generation and after every optimizer step, as it does its own.
    """
    if not config.use_vllm:
        return
    require_vllm("use_vllm=True")
    trainer.vllm_generation = engine(config.vllm_mode, trainer.model, tokenizer, config, trainer.accelerator)
    trainer.use_vllm, trainer.vllm_mode = True, config.vllm_mode
    trainer._last_loaded_step = -1  # TRL's tag: push the weights before the first generation


def _synced(mode: str, config: ToolGymTrainConfig, model: Any, tokenizer: Any, trainer: Any) -> Any:
    """The engine of ``mode`` holding the policy's current weights.

    A trainer that generates with this engine synced it before calling its rollout function; otherwise
    the weights are pushed now: once per sampling site (a collection, DPO's samples, an evaluation, a
    ``rollout_func`` call), never during one.
    """
    own = getattr(trainer, "vllm_generation", None) if getattr(trainer, "use_vllm", False) else None
    if own is not None and own.mode == mode:
        return own
    shared = engine(mode, model, tokenizer, config)
    shared.sync_weights()
    return shared


def _params(sampling: Sampling, eos_token_id: int) -> dict[str, Any]:
    """vLLM sampling parameters: one sample, stopping at the tokenizer's EOS as ``HFGenerator`` does."""
    return {
        "n": 1, "temperature": sampling.temperature, "top_p": sampling.top_p,
        "max_tokens": sampling.max_new_tokens, "stop_token_ids": [eos_token_id],
    }


class ColocateGenerator:
    """Samples with a vLLM engine in this process: ``LLM.generate`` on token ids, one call per batch.

    Args:
        llm: A ``vllm.LLM``.
        eos_token_id: The tokenizer's EOS, which ends a turn.
        sampling: Turn length, temperature and nucleus mass.
    """

    def __init__(self, llm: Any, eos_token_id: int, sampling: Sampling) -> None:
        self.llm, self.eos_token_id, self.sampling = llm, eos_token_id, sampling

    def __call__(self, batch: list[list[int]]) -> list[list[int]]:
        """One continuation per prompt, cut after the first EOS."""
        from vllm import SamplingParams

        params = SamplingParams(**_params(self.sampling, self.eos_token_id))
        prompts = [{"prompt_token_ids": list(ids)} for ids in batch]
        outputs = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
        return [until_eos(list(out.outputs[0].token_ids), self.eos_token_id) for out in outputs]


class ServerGenerator:
    """Samples from a ``trl vllm-serve`` server with TRL's client: token ids in, token ids out, one
    request per batch.

    Args:
        client: A :class:`trl.generation.vllm_client.VLLMClient` (or anything with its ``generate``).
        eos_token_id: The tokenizer's EOS, which ends a turn.
        sampling: Turn length, temperature and nucleus mass.
    """

    def __init__(self, client: Any, eos_token_id: int, sampling: Sampling) -> None:
        self.client, self.eos_token_id, self.sampling = client, eos_token_id, sampling

    def __call__(self, batch: list[list[int]]) -> list[list[int]]:
        """One continuation per prompt, cut after the first EOS."""
        params = _params(self.sampling, self.eos_token_id)
        stop = {"stop_token_ids": params.pop("stop_token_ids")}
        out = self.client.generate(prompts=[list(ids) for ids in batch], logprobs=None, generation_kwargs=stop, **params)
        return [until_eos(list(ids), self.eos_token_id) for ids in out["completion_ids"]]


def colocate_generator(
    config: ToolGymTrainConfig, model: Any, tokenizer: Any, trainer: Any, sampling: Sampling
) -> ColocateGenerator:
    """The ``vllm-colocate`` backend (see :data:`toolgym_train.generation.BACKENDS`)."""
    require_vllm("rollout_backend='vllm-colocate'")
    return ColocateGenerator(_synced("colocate", config, model, tokenizer, trainer).llm, tokenizer.eos_token_id, sampling)


def server_generator(
    config: ToolGymTrainConfig, model: Any, tokenizer: Any, trainer: Any, sampling: Sampling
) -> ServerGenerator:
    """The ``vllm-server`` backend (see :data:`toolgym_train.generation.BACKENDS`)."""
    require_vllm("rollout_backend='vllm-server'")
    shared = _synced("server", config, model, tokenizer, trainer)
    return ServerGenerator(_client(shared, config), tokenizer.eos_token_id, sampling)


def _client(shared: Any, config: ToolGymTrainConfig) -> Any:
    """The engine's client (main process), else this process's generation-only one."""
    client = getattr(shared, "vllm_client", None)
    if client is None:
        client = _CLIENTS.get(config.vllm_server_base_url)
    if client is None:
        from trl.generation.vllm_client import VLLMClient

        client = _CLIENTS[config.vllm_server_base_url] = VLLMClient(
            base_url=config.vllm_server_base_url, connection_timeout=SERVER_TIMEOUT_S
        )
    return client
