"""`toolgym-train analyze`: relative change per layer and module, streamed tensor by tensor."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from toolgym_train.analyze import analyze, module_of
from toolgym_train.cli import main


def perturbed_copy(model, path, scale: dict[str, float]):
    """Saves ``model`` with the named parameters multiplied by (1 + scale)."""
    import copy

    import torch

    other = copy.deepcopy(model)
    with torch.no_grad():
        for name, param in other.named_parameters():
            for needle, factor in scale.items():
                if needle in name:
                    param.mul_(1 + factor)
    other.save_pretrained(path)
    return other


def test_the_analysis_equals_a_direct_computation(model, tmp_path):
    model.save_pretrained(tmp_path / "a")
    trained = perturbed_copy(model, tmp_path / "b", {"layers.0.mlp.up_proj": 0.5, "layers.1.self_attn.q_proj": 0.01})
    result = analyze(tmp_path / "a", tmp_path / "b")
    assert result["layers"]["0"]["mlp.up"] == pytest.approx(0.5)
    assert result["layers"]["1"]["attn.q"] == pytest.approx(0.01)
    base = dict(model.named_parameters())
    sums: dict = {}
    for name, param in trained.named_parameters():  # every module (weights and biases), with torch
        a = base[name].detach().double()
        entry = sums.setdefault(module_of(name), [0.0, 0.0])
        entry[0] += float(a.square().sum())
        entry[1] += float((param.detach().double() - a).square().sum())
    for (layer, module), (a2, d2) in sums.items():
        got = result["layers"][str(layer)][module] if layer is not None else result["global"][module]
        assert got == pytest.approx(math.sqrt(d2 / a2), abs=1e-12)
    assert result["layers"]["1"]["mlp.down"] == 0.0 and result["global"]["embed"] == 0.0


def test_the_command_writes_a_table_a_heatmap_and_json(model, tmp_path, capsys):
    model.save_pretrained(tmp_path / "a")
    perturbed_copy(model, tmp_path / "b", {"mlp": 0.1})
    assert main(["analyze", "--base", str(tmp_path / "a"), "--trained", str(tmp_path / "b"),
                 "--output_dir", str(tmp_path / "out")]) == 0
    assert "mlp.gate" in capsys.readouterr().out
    data = json.loads((tmp_path / "out" / "analysis.json").read_text())
    assert data["by_module"]["mlp.gate"] == pytest.approx(0.1) and data["by_module"]["attn.q"] == 0.0
    assert (tmp_path / "out" / "analysis.png").stat().st_size > 0
    assert main(["analyze", "--base", str(tmp_path / "a"), "--trained", str(tmp_path), "--output_dir", str(tmp_path)]) == 2


_PEAK = """
import resource, sys
from toolgym_train.analyze import analyze
analyze(sys.argv[1], sys.argv[2])  # warm-up: imports, allocator
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
analyze(sys.argv[3], sys.argv[4])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_a_checkpoint_of_many_shards_is_streamed_not_loaded(tmp_path, tokenizer):
    from toolgym_train.tiny import build_tiny_model

    big = build_tiny_model(tokenizer, hidden_size=256, num_layers=8, num_heads=4)  # ~28 MB of fp32
    big.save_pretrained(tmp_path / "a", max_shard_size="4MB")
    perturbed_copy(big, tmp_path / "b", {"mlp": 0.1})
    small = build_tiny_model(tokenizer, hidden_size=16, num_layers=1)
    small.save_pretrained(tmp_path / "s")
    total_mb = sum(p.stat().st_size for p in (tmp_path / "a").glob("*.safetensors")) / 2**20
    assert len(list((tmp_path / "a").glob("*.safetensors"))) > 4
    out = subprocess.run([sys.executable, "-c", _PEAK, *(str(tmp_path / x) for x in ("s", "s", "a", "b"))],
                         capture_output=True, text=True, check=True)
    growth_mb = int(out.stdout.strip()) / 1024  # ru_maxrss is in KiB on Linux
    assert growth_mb < total_mb / 2, (growth_mb, total_mb)  # two models would need 2 x total
    assert math.isfinite(growth_mb)
