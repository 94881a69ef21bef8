"""Where the learning happens: the relative change of every layer and module between two checkpoints.

The paper finds that the gains of RL in built environments come from updates to lower-layer MLP
parameters. :func:`analyze` measures that on any two Hugging Face checkpoints of one architecture:
per layer and per module (attention q/k/v/o, MLP gate/up/down, norms, embeddings, LM head) the
relative change ``||W_B - W_A|| / ||W_A||`` (Frobenius norms, summed over a module's tensors). It
streams the safetensors shards tensor by tensor, so a 7B checkpoint needs memory for one shard and
a few tensors, not for two models.

    toolgym-train analyze --base runs/tiny-cpu/warm_start --trained runs/tiny-cpu/final --output_dir runs/analysis
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MODULES", "analyze", "module_of", "main"]

MODULES: tuple[str, ...] = (
    "embed", "attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate", "mlp.up", "mlp.down", "norm", "lm_head",
)
"""The module columns, in table order."""

_LAYER = re.compile(r"(?:^|\.)(?:layers|h|blocks|layer)\.(\d+)\.")
_PATTERNS: tuple[tuple[str, str], ...] = (
    ("q_proj", "attn.q"), ("k_proj", "attn.k"), ("v_proj", "attn.v"), ("o_proj", "attn.o"),
    ("gate_proj", "mlp.gate"), ("up_proj", "mlp.up"), ("down_proj", "mlp.down"),
    ("norm", "norm"), ("embed", "embed"), ("wte", "embed"), ("lm_head", "lm_head"),
)


def module_of(name: str) -> tuple[int | None, str]:
    """``(layer index or None, module)`` of a parameter name in Hugging Face's naming.

    Example:
        >>> module_of("model.layers.3.mlp.down_proj.weight"), module_of("model.embed_tokens.weight")
        ((3, 'mlp.down'), (None, 'embed'))
    """
    layer = _LAYER.search(name)
    index = int(layer.group(1)) if layer else None
    for needle, module in _PATTERNS:
        if needle in name:
            return index, module
    return index, "other"


def _shards(checkpoint: Path) -> list[Path]:
    shards = sorted(checkpoint.glob("*.safetensors"))
    if not shards:
        raise ValueError(f"No *.safetensors files in {str(checkpoint)!r}; save the model with save_pretrained().")
    return shards


def _tensors(checkpoint: Path) -> Iterator[tuple[str, Any]]:
    """Every tensor of a checkpoint, one at a time (torch, any dtype bf16 included)."""
    from safetensors import safe_open

    for shard in _shards(checkpoint):
        with safe_open(str(shard), framework="pt") as f:
            for key in f.keys():
                yield key, f.get_tensor(key)


def _locations(checkpoint: Path) -> dict[str, Path]:
    from safetensors import safe_open

    out = {}
    for shard in _shards(checkpoint):
        with safe_open(str(shard), framework="pt") as f:
            out.update(dict.fromkeys(f.keys(), shard))
    return out


def _squared_norms(base: Path, trained: Path) -> dict[tuple[int | None, str], list[float]]:
    """(layer, module) -> [sum ||A||^2, sum ||B - A||^2], streaming one tensor pair at a time."""
    from safetensors import safe_open

    where = _locations(trained)
    sums: dict[tuple[int | None, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for name, a in _tensors(base):
        if name not in where:
            raise ValueError(f"{name!r} is in {str(base)!r} but not in {str(trained)!r}: not one architecture.")
        with safe_open(str(where[name]), framework="pt") as f:
            b = f.get_tensor(name)
        if a.shape != b.shape:
            raise ValueError(f"{name!r} has shape {tuple(a.shape)} in the base and {tuple(b.shape)} in the trained checkpoint.")
        a, b = a.double(), b.double()
        entry = sums[module_of(name)]
        entry[0] += float(a.square().sum())
        entry[1] += float((b - a).square().sum())
        del a, b
    return sums


def analyze(base: str | Path, trained: str | Path) -> dict[str, Any]:
    """Relative change per layer and module between two checkpoints of one architecture.

    Returns:
        ``{"layers": {layer: {module: change}}, "global": {module: change}, "by_module": {module:
        change over all layers}}``; ``layers`` holds the decoder layers, ``global`` the modules
        outside them (embeddings, final norm, LM head).
    """
    sums = _squared_norms(Path(base), Path(trained))

    def ratio(a2: float, d2: float) -> float:
        return math.sqrt(d2) / math.sqrt(a2) if a2 > 0 else (0.0 if d2 == 0 else math.inf)

    layers: dict[int, dict[str, float]] = defaultdict(dict)
    global_: dict[str, float] = {}
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (layer, module), (a2, d2) in sorted(sums.items(), key=lambda kv: (kv[0][0] is None, kv[0][0] or 0, kv[0][1])):
        (layers[layer] if layer is not None else global_)[module] = ratio(a2, d2)
        totals[module][0] += a2
        totals[module][1] += d2
    return {
        "layers": {str(k): v for k, v in sorted(layers.items())},
        "global": global_,
        "by_module": {m: ratio(*totals[m]) for m in [*MODULES, "other"] if m in totals},
    }


def format_analysis(result: dict[str, Any]) -> str:
    """A text table: a row per layer, a column per module (relative change, x 1e-3)."""
    columns = [m for m in MODULES if any(m in row for row in result["layers"].values())]
    lines = ["layer  " + "".join(f"{m:>10}" for m in columns)]
    for layer, row in result["layers"].items():
        lines.append(f"{layer:<7}" + "".join(f"{1e3 * row[m]:>10.2f}" if m in row else f"{'-':>10}" for m in columns))
    lines.append("outside the layers: " + ", ".join(f"{m} {1e3 * v:.2f}" for m, v in result["global"].items()))
    return "\n".join(lines) + "\n(relative change ||W_B - W_A|| / ||W_A||, x 1e-3)"


def plot_analysis(result: dict[str, Any], path: Path) -> None:
    """A heatmap: layers (rows, layer 0 at the bottom) x modules (columns)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    columns = [m for m in MODULES if any(m in row for row in result["layers"].values())]
    rows = list(result["layers"])
    grid = np.array([[result["layers"][r].get(m, np.nan) for m in columns] for r in rows])
    fig, ax = plt.subplots(figsize=(1.1 * len(columns) + 2, 0.35 * len(rows) + 2))
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(columns)), columns, rotation=30)
    ax.set_yticks(range(len(rows)), rows)
    ax.set(xlabel="module", ylabel="layer", title="Relative change ||W_B - W_A|| / ||W_A||")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def make_parser() -> argparse.ArgumentParser:
    """The ``toolgym-train analyze`` parser."""
    parser = argparse.ArgumentParser(prog="toolgym-train analyze", description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="checkpoint directory before (e.g. the warm start)")
    parser.add_argument("--trained", required=True, help="checkpoint directory after (same architecture)")
    parser.add_argument("--output_dir", required=True, help="where analysis.json and analysis.png go")
    parser.add_argument("--no-plot", action="store_true", help="skip the heatmap")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the analysis, prints the table and writes ``analysis.json`` (and ``analysis.png``)."""
    args = make_parser().parse_args(argv)
    try:
        result = analyze(args.base, args.trained)
    except ValueError as err:
        print(f"toolgym-train analyze: error: {err}", file=sys.stderr)
        return 2
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "analysis.json").write_text(json.dumps(result, indent=2))
    if not args.no_plot:
        plot_analysis(result, out / "analysis.png")
    print(format_analysis(result))
    return 0
