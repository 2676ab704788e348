"""The package's shape (docs/architecture.md): every module imports; no import cycle and no import
that runs back up the pipeline, counting function-level and TYPE_CHECKING imports; metrics import no
torch models, judges no nnsight, report never the model wrapper, tasks reach the model only through
the protocol, only `attacks/intervention/` adds to a layer; no reaching into another module's
private names; no module far over ~300 lines."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lm_eval_latent"
MAX_LINES = 320  # "about 300": room for a docstring, not for a second concept
# Modules allowed over MAX_LINES, each with its reason (none today: the test holds the line).
KNOWN_LONG: set[str] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> list[ast.ImportFrom | ast.Import]:
    """Every import statement of a file: top level, inside functions and under ``if TYPE_CHECKING``
    (a lazy import still runs, and a type-only one still ties the modules together)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Our modules an import statement loads: ``from P import m`` loads the module P.m when there is
    one, else P (a package counts as its __init__)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")[: -node.level] if not MODULES[module].name == "__init__.py" else \
                module.split(".")[: len(module.split(".")) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    return [n for n in names if n in MODULES and n != module]


def _external(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The top-level names of the outside packages an import statement loads (torch, nnsight, ...)."""
    if isinstance(node, ast.Import):
        return [a.name.split(".")[0] for a in node.names]
    return [(node.module or "").split(".")[0]] if not node.level else []


def _graph() -> dict[str, set[str]]:
    return {m: {t for node in _imports(p) for t in _targets(m, node)} for m, p in MODULES.items()}


# The pipeline's layers, lowest first (docs/architecture.md): a module imports its own layer or
# lower ones, never a higher one. The longest matching prefix decides a module's layer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundations", ("fields", "outputs", "wheels", "shipped", "chat", "metrics", "calibration", "layer_spec")),
    ("intervention", ("attacks.intervention",)),
    ("attacks", ("attacks",)),
    ("judging", ("judging",)),
    ("tasks", ("task_classes",)),
    ("model", ("model",)),
    ("report", ("report",)),
    # How lm-eval finds us, the one simple_evaluate call and the evaluations built on it (the
    # door check): anything that runs lm-eval in process (the demo, fine-tuning onset) uses
    # them, so they sit below training and commands.
    ("discovery", ("plugin.registration", "plugin._hook", "evaluate")),
    ("training", ("training",)),
    # The command: its dispatcher (`plugin/cli.py`), one module per subcommand (`commands/NAME.py`)
    # and the `python -m` entry points.
    ("commands", ("plugin", "commands", "__main__", "training.zoo.__main__")),
    # The package's public surface and the paths documented before the stage folders.
    ("surface", ("", "safety_task", "lvs_task", "data", "judges")),
]


def _layer(module: str) -> int:
    name = module.removeprefix("lm_eval_latent").removeprefix(".")
    best = max(((len(prefix), i) for i, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
                if name == prefix or name.startswith(prefix + ".") or (prefix == "" and name == "")),
               default=None)
    assert best is not None, f"{module} is in no layer of LAYERS: add it there and to docs/architecture.md"
    return best[1]


def test_every_module_has_a_layer():
    for module in MODULES:
        _layer(module)


def test_no_import_runs_back_up_the_pipeline():
    upward = [f"{m} ({LAYERS[_layer(m)][0]}) imports {t} ({LAYERS[_layer(t)][0]})"
              for m, targets in _graph().items() for t in sorted(targets) if _layer(t) > _layer(m)]
    assert not upward, "\n".join(upward)


def _offenders(prefix: str, forbidden_ours: tuple[str, ...] = (), forbidden_outside: tuple[str, ...] = ()) -> list[str]:
    out = []
    for module, path in MODULES.items():
        if not (module == prefix or module.startswith(prefix + ".")):
            continue
        for node in _imports(path):
            out += [f"{module}:{node.lineno} imports {t}" for t in _targets(module, node)
                    if any(t == f or t.startswith(f + ".") for f in forbidden_ours)]
            out += [f"{module}:{node.lineno} imports {e}" for e in _external(node) if e in forbidden_outside]
    return out


def test_metrics_import_no_torch_models():
    assert not _offenders("lm_eval_latent.metrics", ("lm_eval_latent.model",),
                          ("torch", "transformers", "nnsight", "peft"))


def test_judges_import_no_nnsight():
    assert not _offenders("lm_eval_latent.judging", ("lm_eval_latent.attacks.intervention",), ("nnsight",))


def test_report_and_gate_never_import_the_model_wrapper():
    assert not _offenders("lm_eval_latent.report", ("lm_eval_latent.model", "lm_eval_latent.attacks"),
                          ("torch", "nnsight"))


def test_tasks_reach_the_model_only_through_the_protocol():
    assert not _offenders("lm_eval_latent.task_classes",
                          ("lm_eval_latent.model", "lm_eval_latent.attacks.core", "lm_eval_latent.attacks.intervention"))


def test_only_the_intervention_package_adds_to_a_layer():
    """nnsight and forward hooks are how a delta gets into a layer; nothing else may use them."""
    found = []
    for module, path in MODULES.items():
        if module.startswith("lm_eval_latent.attacks.intervention"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{module}:{n.lineno} {n.attr}" for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                  and n.attr in ("register_forward_hook", "register_forward_pre_hook", "register_module_forward_hook")]
        found += [f"{module}:{node.lineno} imports nnsight" for node in _imports(path) if "nnsight" in _external(node)]
    assert not found, "\n".join(found)


def test_the_checks_see_function_level_and_type_checking_imports(tmp_path):
    """What the old top-level-only reading missed: a cycle behind a lazy or TYPE_CHECKING import."""
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lm_eval_latent.model import layers\n"
                      "def f():\n    from lm_eval_latent import metrics\n")
    module = "lm_eval_latent.fields"
    targets = {t for node in _imports(source) for t in _targets(module, node)}
    assert targets == {"lm_eval_latent.model.layers", "lm_eval_latent.metrics"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for module, path in MODULES.items():
        for node in _imports(path):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lm_eval_latent"):
                offenders += [f"{module}: from {node.module} import {a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert not offenders, "\n".join(offenders)


def test_no_module_reaches_into_private_attributes_of_our_modules():
    offenders = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {a.asname or a.name.split(".")[-1] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                   and (n.module or "").startswith("lm_eval_latent") for a in n.names if f"{n.module}.{a.name}" in MODULES}
        aliases |= {a.asname for n in ast.walk(tree) if isinstance(n, ast.Import)
                    for a in n.names if a.name.startswith("lm_eval_latent") and a.asname}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                offenders.append(f"{module}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not offenders, "\n".join(offenders)


def test_no_module_far_over_300_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
            and m not in KNOWN_LONG}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
