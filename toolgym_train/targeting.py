"""Targeted training: train only some modules and layers (e.g. the lower-layer MLPs), freeze the rest.

The paper finds RL's gains in lower-layer MLP parameters; ``train_modules`` and ``train_layers``
let a run train only those, as full parameters or as LoRA adapters (``use_peft``). Modules are
named as :func:`toolgym_train.analyze.module_of` names them: ``embed``, ``attn`` (or ``attn.q``,
``attn.k``, ``attn.v``, ``attn.o``), ``mlp`` (or ``mlp.gate``, ``mlp.up``, ``mlp.down``), ``norm``,
``lm_head``. Layers: ``all``, ``lower_half``, ``upper_half``, or indices and ranges (``0-13,20``).

Example:
    >>> parse_layers("0-2,5", 8), parse_layers("lower_half", 8)
    ([0, 1, 2, 5], [0, 1, 2, 3])
"""

from __future__ import annotations

from typing import Any

from toolgym_train.analyze import MODULES, module_of

__all__ = ["LORA_NAMES", "apply_targeting", "lora_targets", "parse_layers", "parse_modules", "trains"]

LORA_NAMES: dict[str, str] = {
    "attn.q": "q_proj", "attn.k": "k_proj", "attn.v": "v_proj", "attn.o": "o_proj",
    "mlp.gate": "gate_proj", "mlp.up": "up_proj", "mlp.down": "down_proj",
}
"""The projections LoRA can adapt, by module name."""


def parse_modules(spec: str) -> set[str] | None:
    """The module names of ``spec`` (None for ``all``); ``attn`` and ``mlp`` name their projections.

    Raises:
        ValueError: an unknown module, naming the known ones.
    """
    if spec.strip() == "all":
        return None
    out: set[str] = set()
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        matched = {m for m in MODULES if m == part or m.startswith(part + ".")}
        if not matched:
            raise ValueError(f"train_modules: unknown module {part!r}; use 'all' or some of "
                             f"{', '.join(('attn', 'mlp', *MODULES))}.")
        out |= matched
    return out


def parse_layers(spec: str, num_layers: int) -> list[int] | None:
    """The layer indices of ``spec`` (None for ``all``).

    Raises:
        ValueError: a malformed range or an index outside ``[0, num_layers)``.
    """
    spec = spec.strip()
    if spec == "all":
        return None
    if spec in ("lower_half", "upper_half"):
        half = num_layers // 2
        return list(range(half)) if spec == "lower_half" else list(range(half, num_layers))
    layers: set[int] = set()
    try:
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            low, _, high = part.partition("-")
            layers.update(range(int(low), int(high or low) + 1))
    except ValueError:
        raise ValueError(f"train_layers={spec!r}: use 'all', 'lower_half', 'upper_half' or ranges like '0-13,20'.") from None
    if not layers or min(layers) < 0 or max(layers) >= num_layers:
        raise ValueError(f"train_layers={spec!r}: the model has layers 0-{num_layers - 1}.")
    return sorted(layers)


def trains(name: str, modules: set[str] | None, layers: list[int] | None) -> bool:
    """True when parameter ``name`` is in the targeted modules and layers.

    A layer selection leaves out every parameter outside the decoder layers (embeddings, LM head).
    """
    layer, module = module_of(name)
    in_layers = layers is None or (layer is not None and layer in layers)
    return in_layers and (modules is None or module in modules)


def apply_targeting(model: Any, modules_spec: str, layers_spec: str) -> int:
    """Freezes every parameter outside the target (``requires_grad``); returns how many stay trained.

    Raises:
        ValueError: the target selects no parameter.
    """
    modules = parse_modules(modules_spec)
    layers = parse_layers(layers_spec, model.config.num_hidden_layers)
    count = 0
    for name, param in model.named_parameters():
        param.requires_grad_(trains(name, modules, layers))
        count += param.requires_grad
    if not count:
        raise ValueError(f"train_modules={modules_spec!r} with train_layers={layers_spec!r} selects no parameter.")
    return count


def lora_targets(modules_spec: str, layers_spec: str, num_layers: int) -> dict[str, Any]:
    """``target_modules`` and ``layers_to_transform`` of a peft ``LoraConfig`` for the target."""
    modules = parse_modules(modules_spec)
    names = sorted(LORA_NAMES[m] for m in (modules or LORA_NAMES) if m in LORA_NAMES)
    if not names:
        raise ValueError(f"train_modules={modules_spec!r} names no projection LoRA can adapt ({', '.join(LORA_NAMES)}).")
    out: dict[str, Any] = {"target_modules": names if modules is not None else "all-linear"}
    layers = parse_layers(layers_spec, num_layers)
    if layers is not None:
        out["target_modules"] = names
        out["layers_to_transform"] = layers
    return out
