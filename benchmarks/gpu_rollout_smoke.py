"""GPU smoke test of the rollout backends: one step-mode iteration on each, from the same local model.

Builds a Qwen2-architecture model of at least 100M parameters (default: 1024 wide, 10 layers, ~120M)
and its BPE tokenizer locally, as ``toolgym_train.tiny`` does (nothing is downloaded), warm-starts it
briefly on oracle transcripts so that its turns are tool calls and answers that end with EOS, and
saves it (vLLM builds its engine from a directory). Then, for each backend, it loads those weights
and runs one step-mode iteration: the multi-turn rollouts through
:func:`toolgym_train.generation.make_generator` (``collect``) and one GRPO step (``use_vllm`` on the
vLLM backends, so GRPO's completions come from the same engine). Per backend it prints: rollout
seconds, generate calls and prompts per call, sampled tokens per second inside generate, the share
of turns closed by a sampled EOS, whether every episode is token-exact (ids and mask aligned, each
masked-in run is a sequence the generator returned, verbatim, decoding to the turn the env read) and
the GRPO step's seconds; ``OUT/smoke.json`` keeps them.

``vllm-server`` needs a second GPU (NCCL cannot put the trainer and the server on one device): with
two GPUs visible, the script starts ``trl vllm-serve`` on the last one. To use a server of your own,
build the model once (``--backends hf``), start ``trl vllm-serve --model OUT/model`` on another GPU,
and rerun with ``--reuse-model --backends vllm-server --server-url http://HOST:PORT``.

Usage (repository root, ``pip install -e '.[train,vllm]'``)::

    python benchmarks/gpu_rollout_smoke.py                          # hf, vllm-colocate, vllm-server
    python benchmarks/gpu_rollout_smoke.py --backends hf,vllm-colocate --episodes 128
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ENV_ID = "ToolGym/Scenario-v0"
ENV_KWARGS = {"shapes": ["single_hop", "multi_hop"], "distractors": 0, "optional_params": 0,
              "rich_types": False, "merge_prob": 0.0}
"""The tiny-cpu preset's compact env: short prompts, so the smoke run is about generation."""


def make_parser() -> argparse.ArgumentParser:
    """The script's options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="hf,vllm-colocate,vllm-server", help="comma-separated rollout backends")
    p.add_argument("--out", default="runs/gpu_rollout_smoke", help="where the model, runs and smoke.json go")
    p.add_argument("--hidden-size", type=int, default=1024)
    p.add_argument("--layers", type=int, default=10)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--vocab-size", type=int, default=4000)
    p.add_argument("--min-params", type=float, default=100e6, help="refuse a smaller model (0: any size)")
    p.add_argument("--tokenizer-episodes", type=int, default=600, help="oracle episodes the BPE is trained on")
    p.add_argument("--warm-episodes", type=int, default=512, help="oracle episodes of the SFT warm start")
    p.add_argument("--warm-steps", type=int, default=150, help="SFT steps (turns end with EOS after it)")
    p.add_argument("--episodes", type=int, default=64, help="rollout episodes per backend")
    p.add_argument("--max-turns", type=int, default=6)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--server-url", default=None, help="a running `trl vllm-serve` on OUT/model")
    p.add_argument("--reuse-model", action="store_true", help="use OUT/model when it is there instead of building")
    return p


def build_model(args: argparse.Namespace, out: Path) -> Path:
    """Builds, warm-starts and saves the model and tokenizer under ``out/model``; returns that path."""
    from toolgym_train.policy import check_tokenizer
    from toolgym_train.sft import warm_start
    from toolgym_train.tiny import build_tiny, oracle_transcripts

    transcripts = oracle_transcripts(args.tokenizer_episodes, ENV_ID, 0, **ENV_KWARGS)
    model, tokenizer = build_tiny(transcripts, vocab_size=args.vocab_size, hidden_size=args.hidden_size,
                                  num_layers=args.layers, num_heads=args.heads)
    params = sum(p.numel() for p in model.parameters())
    print(f"[smoke] model: {params / 1e6:.1f}M parameters", flush=True)
    if params < args.min_params:
        raise SystemExit(f"the model has {params:,} parameters, under --min-params {args.min_params:,.0f}")
    check_tokenizer(tokenizer)
    config = run_config(args, out / "sft", "hf", None)
    model, _ = warm_start(model, tokenizer, config, str(out / "sft"))
    path = out / "model"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def run_config(args: argparse.Namespace, out: Path, backend: str, url: str | None) -> Any:
    """One backend's run: one step-mode iteration, vLLM for GRPO's completions too on a vLLM backend."""
    import torch

    from toolgym_train.config import ToolGymTrainConfig

    vllm = backend.startswith("vllm-")
    return ToolGymTrainConfig(
        output_dir=str(out), env_id=ENV_ID, env_kwargs=ENV_KWARGS, max_turns=args.max_turns, mode="step",
        iterations=1, episodes_per_iteration=args.episodes, steps_per_iteration=1, num_generations=4,
        per_device_train_batch_size=8, learning_rate=1e-5, beta=0.0, temperature=1.0,
        max_new_tokens=args.max_new_tokens, max_length=2048, eval_episodes=0,
        warm_start_episodes=args.warm_episodes, sft_max_steps=args.warm_steps, sft_learning_rate=1e-3,
        sft_batch_size=16, bf16=torch.cuda.is_available(), rollout_backend=backend, use_vllm=vllm,
        vllm_mode=backend.removeprefix("vllm-") if vllm else "colocate",
        vllm_server_base_url=url or "http://localhost:8000", vllm_gpu_memory_utilization=0.25,
    )


class Recorder:
    """Wraps a backend's generators to count calls, prompts, sampled tokens and time inside generate."""

    def __init__(self, eos_token_id: int) -> None:
        self.eos, self.calls, self.seconds, self.outputs = eos_token_id, [], 0.0, []

    def wrap(self, build: Any) -> Any:
        def built(*args: Any) -> Any:
            generate = build(*args)

            def timed(batch: list[list[int]]) -> list[list[int]]:
                start = time.perf_counter()
                out = generate(batch)
                self.seconds += time.perf_counter() - start
                self.calls.append(len(batch))
                self.outputs += [tuple(ids) for ids in out]
                return out

            return timed

        return built

    def figures(self) -> dict[str, Any]:
        tokens = sum(len(ids) for ids in self.outputs)
        return {
            "generate_calls": len(self.calls), "prompts_per_call": max(self.calls, default=0),
            "sampled_tokens": tokens, "tokens_per_s": tokens / self.seconds if self.seconds else 0.0,
            "eos_share": sum(1 for ids in self.outputs if ids and ids[-1] == self.eos) / max(len(self.outputs), 1),
        }


def token_exact(episodes: list[Any], recorder: Recorder, tokenizer: Any) -> bool:
    """Ids and mask aligned, and each run of masked-in ids (one per turn: tool tokens and forced EOS
    are masked out between them) is a sequence the generator returned, verbatim, decoding to the turn."""
    returned = set(recorder.outputs)
    for ep in episodes:
        if len(ep.completion_ids) != len(ep.env_mask):
            return False
        runs = sampled_runs(ep.completion_ids, ep.env_mask)
        if len(runs) != len(ep.turns) or any(tuple(run) not in returned for run in runs):
            return False
        if [tokenizer.decode(run, skip_special_tokens=True) for run in runs] != ep.turns:
            return False
    return True


def sampled_runs(ids: list[int], mask: list[int]) -> list[list[int]]:
    """The maximal runs of ids whose mask is 1."""
    runs: list[list[int]] = []
    for i, (token, sampled) in enumerate(zip(ids, mask, strict=True)):
        if sampled and (i == 0 or not mask[i - 1]):
            runs.append([])
        if sampled:
            runs[-1].append(token)
    return runs


def run_backend(args: argparse.Namespace, path: Path, backend: str, url: str | None) -> dict[str, Any]:
    """One step-mode iteration on ``backend`` from the saved weights; returns its figures."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from toolgym_train.generation import BACKENDS
    from toolgym_train.policy import check_tokenizer
    from toolgym_train.step import train_step_mode
    from toolgym_train.train import collect

    config = run_config(args, Path(args.out) / backend, backend, url)
    tokenizer = AutoTokenizer.from_pretrained(path)
    check_tokenizer(tokenizer)
    dtype = torch.bfloat16 if config.bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to("cuda" if torch.cuda.is_available() else "cpu")
    recorder, build = Recorder(tokenizer.eos_token_id), BACKENDS[backend]
    BACKENDS[backend] = recorder.wrap(build)
    try:
        start = time.perf_counter()
        episodes = collect(model, tokenizer, config, list(range(10_000, 10_000 + args.episodes)))
        rollout_s = time.perf_counter() - start
        _, log = train_step_mode(model, tokenizer, config, episodes, str(Path(config.output_dir) / "grpo"))
        grpo_s = time.perf_counter() - start - rollout_s
    finally:
        BACKENDS[backend] = build
    turns = sum(len(ep.turns) for ep in episodes)
    return {"backend": backend, "episodes": len(episodes), "turns": turns, "rollout_s": rollout_s,
            **recorder.figures(), "token_exact": token_exact(episodes, recorder, tokenizer), "grpo_step_s": grpo_s,
            "grpo_steps": max(e.get("step", 0) for e in log)}


def start_server(path: Path, args: argparse.Namespace, out: Path) -> tuple[subprocess.Popen, str]:
    """Starts ``trl vllm-serve`` (TRL's ``vllm serve`` command) on the last visible GPU; waits for it."""
    import torch
    from trl.scripts.vllm_serve import ScriptArguments, build_command

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = build_command(ScriptArguments(model=str(path), host="127.0.0.1", port=port,
                                            gpu_memory_utilization=0.5, max_model_len=2048 + args.max_new_tokens))
    env = {**os.environ, "VLLM_SERVER_DEV_MODE": "1", "CUDA_VISIBLE_DEVICES": gpus[-1]}
    log = open(out / "vllm_server.log", "w")  # noqa: SIM115  (the server writes to it until it stops)
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return server, url
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"trl vllm-serve exited; see {out / 'vllm_server.log'}") from None
            time.sleep(2)
    server.terminate()
    raise SystemExit(f"trl vllm-serve did not come up in 10 minutes; see {out / 'vllm_server.log'}")


def server_url(args: argparse.Namespace, path: Path, out: Path) -> tuple[subprocess.Popen | None, str | None]:
    """The server to use for vllm-server: the given one, one started on a second GPU, or none."""
    import torch

    if args.server_url:
        return None, args.server_url
    if torch.cuda.device_count() < 2:
        print("[smoke] vllm-server skipped: it needs a second GPU (or --server-url)", flush=True)
        return None, None
    return start_server(path, args, out)


def main(argv: list[str] | None = None) -> int:
    """Builds the model, runs each backend, prints a table and writes ``OUT/smoke.json``."""
    from toolgym_train.generation import check_backends

    args = make_parser().parse_args(argv)
    out = Path(args.out)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    try:  # vLLM missing or no GPU: say so now, not after building the model
        for backend in backends:
            check_backends(run_config(args, out / backend, backend, None))
    except ValueError as err:
        print(f"[smoke] {err}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    reuse = args.reuse_model and (out / "model" / "config.json").is_file()
    path = out / "model" if reuse else build_model(args, out)
    server, url = server_url(args, path, out) if "vllm-server" in backends else (None, None)
    results = []
    try:
        for backend in backends:
            if backend == "vllm-server" and url is None:
                continue
            results.append(run_backend(args, path, backend, url))
            print(f"[smoke] {json.dumps(results[-1])}", flush=True)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)  # the server's own process group: it and its engine workers
    (out / "smoke.json").write_text(json.dumps(results, indent=2))
    print(table(results))
    return 0 if results and all(r["token_exact"] for r in results) else 1


def table(results: list[dict[str, Any]]) -> str:
    """A markdown table of the figures."""
    keys = ["backend", "episodes", "turns", "rollout_s", "generate_calls", "prompts_per_call", "tokens_per_s",
            "eos_share", "token_exact", "grpo_step_s"]
    rows = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in results:
        rows.append("| " + " | ".join(f"{r[k]:.2f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
