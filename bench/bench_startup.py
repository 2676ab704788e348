"""Start-up of `lm-eval-latent` against stock `lm_eval` on the same our-tasks-only command.

    OMP_NUM_THREADS=1 python bench/bench_startup.py [--model DIR] [--runs 3] [--drop-caches]

Each run starts a fresh process of one command and records two times from the moment it is
started: **start-up**, until lm-eval begins building the model (`LM.create_from_arg_obj`, after
its imports, the argument parsing and the task index), and **total**, until the process exits.
The two commands alternate, so slow phases of the machine hit both. Both run through their own
entry points (`lm_eval.__main__:cli_evaluate`, `lm_eval_latent.plugin.cli:main`) in a small
wrapper that only notes the time. ``--drop-caches`` (root on Linux) empties the page cache
before every run, as on a machine that has not read lm-eval's files yet. Not run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

WRAPPER = """
import sys, time
import lm_eval.api.model as model
build = model.LM.create_from_arg_obj.__func__
def noted(cls, *args, **kwargs):
    print(f"STARTUP_DONE {time.time():.6f}", file=sys.stderr, flush=True)
    return build(cls, *args, **kwargs)
model.LM.create_from_arg_obj = classmethod(noted)
if sys.argv[1] == "lm-eval-latent":
    from lm_eval_latent.plugin.cli import main
    sys.argv = sys.argv[1:]
    sys.exit(main())
from lm_eval.__main__ import cli_evaluate
sys.argv = sys.argv[1:]
cli_evaluate()
"""


def drop_caches() -> None:
    """Empty the page cache (needs root): the next run reads every file from disk."""
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def one_run(command: str, args: list[str]) -> dict[str, float]:
    """Seconds to the model's construction and to exit of one fresh process of ``command``."""
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, command, *args], capture_output=True, text=True)
    total = time.time() - start
    if proc.returncode != 0:
        sys.exit(f"bench: {command} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    marks = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("STARTUP_DONE ")]
    if not marks:
        sys.exit(f"bench: {command} never built a model:\n{proc.stderr[-3000:]}")
    return {"startup_s": float(marks[0]) - start, "total_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: the shipped zoo aligned model)")
    parser.add_argument("--tasks", default="refusal_rate")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--drop-caches", action="store_true", help="empty the page cache before each run (root)")
    parser.add_argument("--out", default=None, help="also write the numbers as JSON here")
    args = parser.parse_args()
    if args.out and Path(args.out).exists():
        sys.exit(f"bench: --out {args.out} exists; give a new file")
    if args.model is None:
        from lm_eval_latent.training import zoo

        args.model = str(zoo.build("aligned"))
    command = ["--model", "latent_hf", "--model_args", f"pretrained={args.model}", "--tasks", args.tasks,
               "--limit", "1", "--gen_kwargs", "max_gen_toks=1", "--device", "cpu"]
    env_note = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "load_before": os.getloadavg()[0]}
    times: dict[str, list[dict[str, float]]] = {"lm-eval-latent": [], "lm_eval": []}
    for run in range(args.runs):
        for name in times:
            if args.drop_caches:
                drop_caches()
            times[name].append(one_run(name, command))
            print(f"bench run {run + 1}: {name} {times[name][-1]}", file=sys.stderr, flush=True)
    median = {name: {k: statistics.median(r[k] for r in runs) for k in ("startup_s", "total_s")}
              for name, runs in times.items()}
    ours, stock = median["lm-eval-latent"], median["lm_eval"]
    result = {
        "command": "lm_eval " + " ".join(command), "runs": args.runs, "drop_caches": args.drop_caches,
        "environment": env_note, "runs_s": times,
        "median_s": {n: {k: round(v, 2) for k, v in m.items()} for n, m in median.items()},
        # None where the stock time is too small to measure: never divide by zero on a fast machine
        "startup_ratio": round(ours["startup_s"] / stock["startup_s"], 3) if stock["startup_s"] > 1e-6 else None,
        "total_ratio": round(ours["total_s"] / stock["total_s"], 3) if stock["total_s"] > 1e-6 else None,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
