"""`registration`: latent_hf and our task folder made known to lm-eval, idempotently."""

from __future__ import annotations

from pathlib import Path

import lm_eval.api.registry as registry
import lm_eval.tasks

from lm_eval_latent import shipped
from lm_eval_latent.plugin import registration


def test_register_makes_the_model_and_tasks_known_and_is_idempotent():
    registration.register()
    registration.register()
    assert "latent_hf" in registry.model_registry
    patched = lm_eval.tasks.TaskManager.__init__
    registration.on_tasks_imported(lm_eval.tasks)
    assert lm_eval.tasks.TaskManager.__init__ is patched  # not wrapped twice


def test_lm_eval_plugin_loading_is_used_where_it_exists(monkeypatch):
    calls = []

    def load_plugins():
        calls.append(1)
        registry.model_registry.register("latent_hf", target=registration.MODEL_TARGET)

    monkeypatch.setattr(registry, "load_plugins", load_plugins, raising=False)
    monkeypatch.setattr(registry, "model_registry", registry.Registry("model"))  # an lm-eval that knows no plugin yet
    registration.on_models_imported()
    assert calls == [1] and "latent_hf" in registry.model_registry


def test_our_task_folder_comes_first_and_once():
    ours = str(shipped.tasks_dir())
    assert registration._with_our_tasks(None) == [ours]
    assert registration._with_our_tasks("/my/tasks") == [ours, "/my/tasks"]
    assert registration._with_our_tasks([ours, "/my/tasks"]) == [ours, "/my/tasks"]


def test_builtin_index_switch_is_scoped():
    manager = lm_eval.tasks.TaskManager
    registration.register()
    with registration.builtin_tasks_indexed(False):
        light = manager()
    assert "refusal_lvs" in light.all_tasks and "hellaswag" not in light.all_tasks
    assert registration._INDEX_BUILTIN == [True]
    assert Path(shipped.tasks_dir(), "latent_vulnerability", "refusal_lvs.yaml").is_file()
