"""The chat-model-without-template warning (task_classes/chat_check.py)."""

from __future__ import annotations

import json

from lm_eval_latent.task_classes import chat_check


def test_a_folder_has_a_chat_template_by_file_or_by_tokenizer_config(tmp_path):
    assert not chat_check.has_chat_template(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ x }}"}))
    assert chat_check.has_chat_template(tmp_path)
    other = tmp_path / "b"
    other.mkdir()
    (other / "chat_template.jinja").write_text("{{ x }}")
    assert chat_check.has_chat_template(other)
    assert not chat_check.has_chat_template("org/not-a-local-folder")


def test_a_chat_model_without_the_template_is_warned_once(random_model_dir, caplog):
    chat_check._WARNED.clear()
    meta = {"pretrained": str(random_model_dir)}  # the tiny test model has a chat template
    with caplog.at_level("WARNING", logger="lm_eval_latent.task_classes.chat_check"):
        chat_check.warn_without_template(meta, True, "refusal_lvs")  # template applied: nothing
        assert not caplog.records
        for _ in range(3):
            chat_check.warn_without_template(meta, False, "refusal_lvs")
    assert len(caplog.records) == 1 and "--apply_chat_template" in caplog.records[0].getMessage()


def test_a_run_with_the_template_through_lm_eval_gives_no_warning(zoo_dir, caplog):
    from lm_eval_latent.evaluate import run_latent_hf

    chat_check._WARNED.clear()
    with caplog.at_level("WARNING", logger="lm_eval_latent.task_classes.chat_check"):
        run_latent_hf(zoo_dir["aligned"], ["refusal_rate"], limit=2, max_gen_toks=4)
    assert not [r for r in caplog.records if r.name.endswith("chat_check")]
