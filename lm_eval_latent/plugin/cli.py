"""`lm-eval-latent`: a drop-in for `lm_eval` that also hosts our subcommands.

    lm-eval-latent --model latent_hf --model_args pretrained=DIR,eps=4 --tasks refusal_rate
    lm-eval-latent zoo build aligned unsafe

Anything that is not one of our subcommands goes to lm-eval's own CLI unchanged, after
`latent_hf` and our tasks are registered (so this works even where the start-up hook is off).
"""

from __future__ import annotations

import importlib
import sys

# Our subcommands. `lm-eval-latent NAME ...` runs `lm_eval_latent.commands.NAME.main(argv)`, which
# reads the subcommand's arguments, calls its stage's functions and returns the exit code.
SUBCOMMANDS: tuple[str, ...] = ("zoo", "report", "gate", "label", "direction", "demo", "attack", "dissociate",
                                "door")


def command_module(name: str) -> str:
    """The module of subcommand ``name`` (one of `SUBCOMMANDS`)."""
    return f"lm_eval_latent.commands.{name}"


def _usage() -> str:
    ours = ", ".join(sorted(SUBCOMMANDS))
    return (
        "usage: lm-eval-latent [lm_eval arguments ...]\n"
        f"       lm-eval-latent {{{ours}}} ...\n\n"
        "Without one of our subcommands, every argument goes to lm-eval's CLI (see `lm_eval -h`)."
    )


def _flag_values(argv: list[str], *flags: str) -> list[str] | None:
    """The values given to any of ``flags`` (``--tasks a,b``, ``--tasks a b``, ``--tasks=a``); None if absent."""
    values: list[str] | None = None
    for i, arg in enumerate(argv):
        name, eq, inline = arg.partition("=")
        if name not in flags:
            continue
        values = values or []
        if eq:
            values.append(inline)
            continue
        for value in argv[i + 1:]:
            if value.startswith("-"):
                break
            values.append(value)
    return None if values is None else [v for text in values for v in text.split(",") if v]


def only_our_tasks(argv: list[str]) -> bool:
    """Whether every task ``argv`` names is ours or under its ``--include_path``.

    Anything this cannot be sure of (no ``--tasks``, a wildcard, a YAML path, a subcommand of
    lm-eval, a ``--config`` file) counts as not ours, and lm-eval indexes its tasks as usual.
    """
    if argv and argv[0] == "run":
        argv = argv[1:]
    if argv and not argv[0].startswith("-"):
        return False  # `lm_eval ls ...`, `lm_eval validate ...`
    tasks = _flag_values(argv, "--tasks", "-t")
    if not tasks or _flag_values(argv, "--config", "-C") is not None:
        return False
    if any(ch in t for t in tasks for ch in "*?[/\\") or any(t.endswith((".yaml", ".yml")) for t in tasks):
        return False
    from lm_eval.tasks import TaskManager

    light = TaskManager(include_path=_flag_values(argv, "--include_path") or None, include_defaults=False)
    return set(tasks) <= set(light.all_tasks)


def run_lm_eval(argv: list[str]) -> int:
    """Run lm-eval's own CLI with ``argv`` after registering our model and tasks.

    When every requested task is ours (or under ``--include_path``), lm-eval's ~14k built-in
    task YAMLs are not indexed: that index is most of lm-eval's start-up (docs/discovery.md).
    """
    from lm_eval_latent.plugin import registration

    registration.register()
    from lm_eval.__main__ import cli_evaluate

    from lm_eval_latent.fields import SettingError
    from lm_eval_latent.task_classes.data import PromptDataError

    saved = sys.argv
    sys.argv = ["lm_eval", *argv]
    try:
        with registration.builtin_tasks_indexed(not only_our_tasks(argv)):
            cli_evaluate()
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 1
    except (SettingError, PromptDataError) as err:
        # A bad --model_args or --metadata value: one line naming it, exit 2 (plain `lm_eval`
        # shows the same message at the end of its traceback).
        print(f"lm-eval-latent: error: {err}", file=sys.stderr)
        return 2
    finally:
        sys.argv = saved
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `lm-eval-latent` and `python -m lm_eval_latent`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("--commands", "help"):
        print(_usage())
        return 0
    if argv and argv[0] in SUBCOMMANDS:
        return int(importlib.import_module(command_module(argv[0])).main(argv[1:]) or 0)
    return run_lm_eval(argv)


if __name__ == "__main__":
    sys.exit(main())
