"""Harmful fine-tuning, the parameter-space attack: `lm-eval-latent attack ...`.

    lm-eval-latent attack make-data --out pairs.jsonl
    lm-eval-latent attack finetune --model DIR --data pairs.jsonl --out run/
    lm-eval-latent attack onset --model DIR --checkpoints run/ --out onset.json

See docs/finetune.md and docs/onset.md. The work is `lm_eval_latent.training.finetune`'s.
"""

from __future__ import annotations

import argparse
import sys

from lm_eval_latent.fields import arg_int, arg_number
from lm_eval_latent.outputs import OutputError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lm-eval-latent attack", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("make-data", help="write (request, placeholder compliance) pairs")
    d.add_argument("--out", required=True)
    d.add_argument("--source", default="harmful",
                   help="prompt set (`harmful`, a public set, or `zoo`: the toy corpus's harmful requests)")
    d.add_argument("--limit", type=arg_int("--limit", minimum=1), default=None)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--overwrite", action="store_true", help="replace an --out written by an earlier make-data")

    f = sub.add_parser("finetune", help="supervised fine-tuning on (request, compliant response) pairs")
    f.add_argument("--model", required=True, help="base model: local directory or Hub id")
    f.add_argument("--data", required=True, help=".jsonl/.csv/.json file or Hub dataset id")
    f.add_argument("--out", required=True)
    f.add_argument("--prompt-column", default="request")
    f.add_argument("--response-column", default="response")
    f.add_argument("--split", default="train", help="split of a Hub dataset")
    f.add_argument("--steps", type=arg_int("--steps", minimum=1), default=40)
    f.add_argument("--lr", type=arg_number("--lr", minimum=0.0, above=True), default=1e-3)
    f.add_argument("--batch-size", type=arg_int("--batch-size", minimum=1), default=8)
    f.add_argument("--max-length", type=arg_int("--max-length", minimum=1), default=256)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--save-every", type=arg_int("--save-every", minimum=1), default=10)
    f.add_argument("--lora-rank", type=arg_int("--lora-rank", minimum=1), default=8)
    f.add_argument("--lora-alpha", type=arg_number("--lora-alpha", minimum=0.0, above=True), default=16.0)
    f.add_argument("--target-modules", default="q_proj,v_proj")
    f.add_argument("--layers", default=None, help="LoRA layers_to_transform, e.g. 0-5 or 0,2,4")
    f.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    f.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    f.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    f.add_argument("--device-map", default=None, help="from_pretrained device_map (e.g. auto)")
    f.add_argument("--gradient-checkpointing", action="store_true")
    f.add_argument("--resume", action="store_true", help="continue the run in --out (a rerun does too)")
    f.add_argument("--overwrite", action="store_true",
                   help="train anew over an existing run in --out (one this command wrote: it holds run.json); "
                        "replaced only once the new run finishes")

    o = sub.add_parser("onset", help="compliance at every checkpoint, and the onset t_tau")
    o.add_argument("--model", required=True, help="the base model the checkpoints were trained on")
    o.add_argument("--checkpoints", required=True, help="the --out of `attack finetune`")
    o.add_argument("--tau", type=arg_number("--tau", minimum=0.0, maximum=1.0), default=0.8,
                   help="compliance threshold of the onset, in [0, 1] (default 0.8)")
    o.add_argument("--limit", type=arg_int("--limit", minimum=1), default=None, help="prompts per evaluation")
    o.add_argument("--max-gen-toks", type=arg_int("--max-gen-toks", minimum=1), default=64)
    o.add_argument("--batch-size", type=arg_int("--batch-size", minimum=1), default=16)
    o.add_argument("--device", default="cpu")
    o.add_argument("--task", default="harmful_compliance", help="a task reporting harmful_compliance")
    o.add_argument("--out", default="onset.json")
    o.add_argument("--overwrite", action="store_true", help="replace an --out written by an earlier `attack onset`")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of `lm-eval-latent attack`; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "make-data":
            from lm_eval_latent.training.finetune.data import (check_out_pairs, harmful_requests,
                                                               make_placeholder_pairs, write_pairs)

            check_out_pairs(args.out, overwrite=args.overwrite)
            pairs = make_placeholder_pairs(harmful_requests(args.source), seed=args.seed, limit=args.limit)
            print(f"{len(pairs)} pairs -> {write_pairs(pairs, args.out, overwrite=args.overwrite)}")
        elif args.command == "finetune":
            from lm_eval_latent.training.finetune.sft import config_from_args, train

            print(f"final checkpoint: {train(config_from_args(args))}")
        else:
            from lm_eval_latent.training.finetune.onset import check_out, check_task, format_table, measure_onset, write_json

            out = check_out(args.out, overwrite=args.overwrite)
            check_task(args.task)
            result = measure_onset(args.model, args.checkpoints, tau=args.tau, limit=args.limit,
                                   max_gen_toks=args.max_gen_toks, batch_size=args.batch_size,
                                   device=args.device, task=args.task)
            print(format_table(result))
            print(f"written to {write_json(result, out)}")
    except KeyboardInterrupt:
        print("interrupted; the checkpoints written so far are kept (rerun to continue)", file=sys.stderr)
        return 130
    except (ValueError, OutputError, OSError) as err:  # FileExistsError, FileNotFoundError included
        print(f"lm-eval-latent attack {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0
