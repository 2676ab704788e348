"""Packaging: the YAML folders ship inside the package (wheel and editable), found the same way
by tests and runtime; the start-up .pth ships in both and costs nothing until lm-eval is imported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from setuptools import find_packages


REPO = Path(__file__).resolve().parents[1]
DEPS = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "lm_eval").is_dir())

# What a fresh interpreter of the throwaway venv prints: where the folders are, whether lm-eval
# found latent_hf and our task without any call of ours (the .pth hook or lm-eval's plugins).
PROBE = """
import lm_eval_latent.shipped as s
print(s.tasks_dir()); print(s.interventions_dir())
import lm_eval.models
from lm_eval.api.registry import model_registry
print("latent_hf" in model_registry)
from lm_eval.tasks import TaskManager
print("refusal_lvs" in TaskManager(include_defaults=False).all_tasks)  # our folder added by the hook
"""


def _clean_env() -> dict[str, str]:
    # Without PYTHONPATH: a checkout on it (and its egg-info) would pass for an installed copy.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LM_EVAL_LATENT_DISABLE_HOOK")}


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=600,
                          env=_clean_env())


def _install_in_throwaway_venv(tmp_path: Path, *pip_args: str) -> tuple[Path, Path]:
    """A new venv holding only our package; its dependencies come from the test's own site-packages."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    proc = _pip("--python", str(python), "install", "--no-deps", "-q", *pip_args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Added after installing, so pip never sees (or touches) the copy installed in DEPS. A plain
    # path line: the .pth files inside DEPS (that copy's hook) are not run.
    (site / "zz_deps.pth").write_text(DEPS + "\n")
    return python, site


def _probe(python: Path) -> list[str]:
    proc = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=600, cwd="/", env=_clean_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.split()


def _working_tree_copy(dest: Path) -> Path:
    """The files git tracks or would track, as they are now: no stale build/ from an earlier build."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    src = _working_tree_copy(tmp_path_factory.mktemp("src"))
    proc = _pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src))
    assert proc.returncode == 0, proc.stderr[-2000:]
    [built] = out.glob("lm_eval_latent-*.whl")
    return built


def test_wheel_contents(wheel):
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    assert "lm_eval_latent.pth" in names
    [record] = [n for n in names if n.endswith(".dist-info/RECORD")]
    assert any(line.startswith("lm_eval_latent.pth,sha256=") for line in archive.read(record).decode().splitlines())
    families = {"safety_behavioral": ("refusal_rate", "harmful_compliance", "over_refusal", "over_refusal_xstest",
                                      "refusal_rate_advbench", "_safety_behavioral"),
                "latent_vulnerability": ("refusal_lvs", "lvs_budget_sweep", "lvs_layer_profile")}
    for family, tasks in families.items():
        for task in tasks:
            assert f"lm_eval_latent/tasks/{family}/{task}.yaml" in names, task
        assert {f"lm_eval_latent/tasks/{family}/utils.py", f"lm_eval_latent/tasks/{family}/README.md"} <= names
    for recipe in ("pgd_linf", "random_linf", "pgd_l2", "gaussian_l2", "direction"):
        assert f"lm_eval_latent/interventions/{recipe}.yaml" in names, recipe
    assert {"lm_eval_latent/task_classes/prompts/harmful.jsonl",
            "lm_eval_latent/task_classes/prompts/safe_lookalike.jsonl"} <= names
    zoo = "lm_eval_latent/training/zoo/models"
    assert f"{zoo}/PROVENANCE.json" in names
    for model in ("aligned", "unsafe", "dissociated"):  # the shipped zoo: weights, tokenizer, template
        for part in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
            assert f"{zoo}/{model}/{part}" in names, (model, part)
    assert f"{zoo}/dissociated/nudge.pt" in names
    assert "lm_eval_latent/judging/ngram_weights.npz" in names  # the default judge's weights
    assert "lm_eval_latent/judging/ngram_pair_weights.npz" in names
    assert "lm_eval_latent/judging/request_weights.npz" in names  # ngram_request's request model
    for part in ("adapter_config.json", "adapter_model.safetensors", "recipe.json"):  # the cross judge's adapter
        assert f"lm_eval_latent/judging/cross_adapter/{part}" in names, part
    # Data folders stay data: no __init__.py makes them import as code.
    assert "lm_eval_latent/tasks/__init__.py" not in names
    assert "lm_eval_latent/interventions/__init__.py" not in names


def test_wheel_install_reads_its_own_folders(wheel, tmp_path):
    python, site = _install_in_throwaway_venv(tmp_path, str(wheel))
    assert (site / "lm_eval_latent.pth").is_file()
    tasks, interventions, model_found, task_found = _probe(python)
    assert Path(tasks) == site / "lm_eval_latent" / "tasks"
    assert Path(interventions) == site / "lm_eval_latent" / "interventions"
    assert (model_found, task_found) == ("True", "True")


def test_editable_install_reads_the_repository_folders(tmp_path):
    # What `pip install -e .` does, with this interpreter's setuptools: ask our backend for the
    # editable wheel (PEP 660), then install it.
    out = tmp_path / "editable"
    build = (f"import sys; sys.path.insert(0, 'build_support'); import lm_eval_latent_build as b; "
             f"print(b.build_editable({str(out)!r}))")
    out.mkdir()
    proc = subprocess.run([sys.executable, "-c", build], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=_clean_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    editable_wheel = out / proc.stdout.strip().splitlines()[-1]
    python, site = _install_in_throwaway_venv(tmp_path, str(editable_wheel))
    assert (site / "lm_eval_latent.pth").is_file()
    tasks, interventions, model_found, task_found = _probe(python)
    assert (Path(tasks), Path(interventions)) == (REPO / "tasks", REPO / "interventions")
    assert (model_found, task_found) == ("True", "True")



def test_no_symlinks_and_data_folders_are_not_packages():
    tracked = subprocess.run(["git", "ls-files", "-s"], cwd=REPO, capture_output=True, text=True).stdout
    assert not [line for line in tracked.splitlines() if line.startswith("120000")], "symlinks in the tree"
    assert not (REPO / "tasks" / "__init__.py").exists()
    assert not (REPO / "interventions" / "__init__.py").exists()
    assert not (REPO / "lm_eval_latent" / "tasks").exists()


def test_package_list_names_every_package():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"]) - set(config["package-dir"])
    assert declared == set(find_packages(str(REPO), include=["lm_eval_latent*"]))
    assert config["package-dir"] == {"lm_eval_latent.tasks": "tasks", "lm_eval_latent.interventions": "interventions"}



def test_wheel_install_loads_the_shipped_zoo_read_only(wheel, tmp_path):
    # The shipped zoo models sit in site-packages; loading one writes nothing, even read-only.
    python, site = _install_in_throwaway_venv(tmp_path, str(wheel))
    models = site / "lm_eval_latent" / "training" / "zoo" / "models"
    for path in [models, *models.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    cache = tmp_path / "zoo_cache"
    code = ("from lm_eval_latent.training import zoo; from transformers import AutoModelForCausalLM; "
            f"p = zoo.build('dissociated', cache_dir={str(cache)!r}); AutoModelForCausalLM.from_pretrained(p); print(p)")
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=600, cwd="/", env=_clean_env())
    for path in [models, *models.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert Path(proc.stdout.split()[-1]) == models / "dissociated"
    assert not cache.exists()  # (as root the chmod above would not stop a write; this does)


def test_sdist_carries_what_a_wheel_needs(wheel, tmp_path):
    # The sdist holds the in-tree backend, the .pth and the mapped folders: a wheel built from it
    # ships the same files as one built from the repository.
    backend = "import sys; sys.path.insert(0, 'build_support'); import lm_eval_latent_build as b; "
    proc = subprocess.run([sys.executable, "-c", backend + f"print(b.build_sdist({str(tmp_path)!r}))"], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env=_clean_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    import tarfile

    with tarfile.open(tmp_path / proc.stdout.strip().splitlines()[-1]) as sdist:
        sdist.extractall(tmp_path / "src", filter="data")
    [root] = (tmp_path / "src").iterdir()
    proc = subprocess.run([sys.executable, "-c", backend + f"print(b.build_wheel({str(tmp_path)!r}))"], cwd=root,
                          capture_output=True, text=True, timeout=600, env=_clean_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    rebuilt = zipfile.ZipFile(tmp_path / proc.stdout.strip().splitlines()[-1])
    assert set(rebuilt.namelist()) == set(zipfile.ZipFile(wheel).namelist())


def test_lowest_tested_versions_are_the_declared_lower_bounds():
    """.ci/run tests .ci/lowest.txt: each pin must be the lower bound pyproject.toml declares, and
    every bounded dependency (torch aside, see pyproject) must be pinned there."""
    import re

    declared = {}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for spec in [*project["dependencies"], *project["optional-dependencies"]["gguf"]]:
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,\s]*)", spec)
        if m:
            declared[m[1].lower()] = m[2]
    pinned = {}
    for line in (REPO / ".ci" / "lowest.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pinned[name.strip().lower()] = version.strip()
    declared.pop("torch")  # only the 2.13 CPU wheel is tested (pyproject says why)

    def same(a: str, b: str) -> bool:  # "5.2" declared, "5.2.0" pinned
        pad = lambda v: tuple(int(x) for x in v.split(".")) + (0,) * (3 - len(v.split(".")))  # noqa: E731
        return pad(a) == pad(b)

    assert set(pinned) == set(declared), (set(pinned) ^ set(declared))
    assert all(same(declared[n], pinned[n]) for n in declared), {n: (declared[n], pinned[n]) for n in declared}
