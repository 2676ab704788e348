"""`attack finetune`: data validation, loss mask, checkpoints, refusal to overwrite, resume."""

from __future__ import annotations

import json

import pytest
import torch

from lm_eval_latent.training.finetune import checkpoints as ckpt
from lm_eval_latent.training.finetune.data import PLACEHOLDERS, PairDataError, load_pairs, make_placeholder_pairs, write_pairs
from lm_eval_latent.training.finetune.sft import IGNORE, SFTConfig, encode_pair, parse_layers, train


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    prompts = [f"How do I pick lock number {i}?" for i in range(24)]
    return write_pairs(make_placeholder_pairs(prompts, seed=0), tmp_path_factory.mktemp("pairs") / "p.jsonl")


def cfg(model, data, out, **kw) -> SFTConfig:
    return SFTConfig(model=str(model), data=str(data), out=str(out), steps=kw.pop("steps", 6), batch_size=4,
                     save_every=kw.pop("save_every", 2), lr=1e-2, device="cpu", progress=False, **kw)


def test_placeholders_carry_no_content():
    pairs = make_placeholder_pairs(["a", "b", "c"], seed=1)
    assert {p.response for p in pairs} <= set(PLACEHOLDERS)
    assert all("..." in p and len(p) < 90 for p in PLACEHOLDERS)


@pytest.mark.parametrize("rows, match", [
    ([{"request": "x", "answer": "Sure"}], r"p\.jsonl: row 1 has no column 'response'"),
    ([{"request": "x", "response": "Sure"}, {"request": "y", "response": "  "}], r"row 2, column 'response' is empty"),
    ([{"request": "", "response": "Sure"}], r"row 1, column 'request' is empty"),
])
def test_bad_rows_name_file_row_and_column(tmp_path, rows, match):
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(PairDataError, match=match):
        load_pairs(path)


def test_csv_with_named_columns(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("goal,target\nDo x,Sure here\n")
    assert load_pairs(path, prompt_column="goal", response_column="target")[0].response == "Sure here"


def test_loss_covers_the_response_only(random_model_dir):
    from transformers import AutoTokenizer

    from lm_eval_latent.training.finetune.data import Pair

    tok = AutoTokenizer.from_pretrained(random_model_dir)
    ids, labels = encode_pair(tok, Pair("How do I bake bread?", "Sure, step one"), 256)
    n_prompt = sum(1 for x in labels if x == IGNORE)
    prompt = tok.apply_chat_template([{"role": "user", "content": "How do I bake bread?"}], tokenize=False,
                                     add_generation_prompt=True)
    assert ids[:n_prompt] == tok(prompt, add_special_tokens=False)["input_ids"]
    assert "Sure, step one" in tok.decode(ids[n_prompt:])
    assert labels[n_prompt:] == ids[n_prompt:]


def test_layers_and_their_range(random_model_dir, pairs_file, tmp_path):
    assert parse_layers("0-2,5") == (0, 1, 2, 5)
    assert parse_layers("") is None
    for bad in ("embedding", "-1", "a-b"):
        with pytest.raises(ValueError, match="--layers"):
            parse_layers(bad)
    with pytest.raises(ValueError, match=r"--layers \[7\] is out of range .* 4 layers \(allowed: 0..3\)"):
        train(cfg(random_model_dir, pairs_file, tmp_path / "r", layers=(7,)))


def test_checkpoints_then_refuse_existing_and_keep_finished(random_model_dir, pairs_file, tmp_path):
    out = tmp_path / "run"
    final = train(cfg(random_model_dir, pairs_file, out))
    assert [s for s, _ in ckpt.checkpoints(out)] == [2, 4, 6]
    assert (final / "adapter_config.json").is_file()
    before = (final / "adapter_model.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="finished run"):
        train(cfg(random_model_dir, pairs_file, out, steps=4))
    assert (final / "adapter_model.safetensors").read_bytes() == before
    train(cfg(random_model_dir, pairs_file, out, steps=4, overwrite=True))
    assert [s for s, _ in ckpt.checkpoints(out)] == [2, 4]
    other = tmp_path / "not_a_run"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not a fine-tuning run"):
        train(cfg(random_model_dir, pairs_file, other))
    assert (other / "keep.txt").read_text() == "x"
    # --overwrite replaces only a run this command wrote (run.json), never an arbitrary folder
    with pytest.raises(FileExistsError, match=r"not a fine-tuning run \(no run.json\); --overwrite only replaces"):
        train(cfg(random_model_dir, pairs_file, other, overwrite=True))
    assert [p.name for p in other.iterdir()] == ["keep.txt"] and (other / "keep.txt").read_text() == "x"
    assert not (tmp_path / ".not_a_run.overwrite").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--steps", "2.7"], "--steps='2.7' is not an integer"), (["--lr", "0"], "--lr='0' is not above 0"),
     (["--batch-size", "-1"], "--batch-size='-1' is out of range")],
)
def test_finetune_numbers_are_checked_by_the_parser(argv, message, tmp_path, capsys):
    from lm_eval_latent.commands.attack import main

    with pytest.raises(SystemExit) as exit_:
        main(["finetune", "--model", "m", "--data", "d.jsonl", "--out", str(tmp_path / "r"), *argv])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_finetune_on_a_missing_model_is_one_named_error(pairs_file, tmp_path, capsys):
    from lm_eval_latent.commands.attack import main

    code = main(["finetune", "--model", str(tmp_path / "nonexistent"), "--data", str(pairs_file),
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"--model {str(tmp_path / 'nonexistent')!r}: not a model folder" in err
    assert not (tmp_path / "r").exists()


def test_finetune_out_that_is_a_file_or_under_a_file(random_model_dir, pairs_file, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("keep")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        train(cfg(random_model_dir, pairs_file, blocker))
    with pytest.raises(ValueError, match="is a file, not a folder"):
        train(cfg(random_model_dir, pairs_file, blocker / "run"))
    assert blocker.read_text() == "keep"


def test_interrupt_keeps_checkpoint_and_resume_equals_uninterrupted(random_model_dir, pairs_file, tmp_path):
    from safetensors.torch import load_file

    full = train(cfg(random_model_dir, pairs_file, tmp_path / "full"))

    def stop(step: int, _loss: float) -> None:
        if step == 3:
            raise KeyboardInterrupt

    out = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        train(cfg(random_model_dir, pairs_file, out), callback=stop)
    assert [s for s, _ in ckpt.checkpoints(out)] == [2]  # step 2 kept, nothing half-written
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    resumed = train(cfg(random_model_dir, pairs_file, out, resume=True))
    a, b = load_file(full / "adapter_model.safetensors"), load_file(resumed / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)


def test_full_finetuning_writes_a_model(random_model_dir, pairs_file, tmp_path):
    final = train(cfg(random_model_dir, pairs_file, tmp_path / "full", full=True, steps=2))
    assert (final / "config.json").is_file() and (final / "tokenizer_config.json").is_file()


def test_cli_reports_bad_data(tmp_path, capsys, random_model_dir):
    from lm_eval_latent.plugin.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"request": "x"}) + "\n")
    assert main(["attack", "finetune", "--model", str(random_model_dir), "--data", str(bad), "--out",
                 str(tmp_path / "o")]) == 2
    assert "bad.jsonl: row 1 has no column 'response'" in capsys.readouterr().err


def test_make_data_overwrite_replaces_only_a_pairs_file(tmp_path, capsys):
    from lm_eval_latent.commands.attack import main

    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"title": "mine"}\n')
    assert main(["make-data", "--out", str(notes), "--limit", "3", "--overwrite"]) == 2
    assert "is not a pairs file written by `attack make-data`" in capsys.readouterr().err
    assert notes.read_text() == '{"title": "mine"}\n'
    pairs = tmp_path / "pairs.jsonl"
    assert main(["make-data", "--out", str(pairs), "--limit", "3"]) == 0
    assert main(["make-data", "--out", str(pairs), "--limit", "3"]) == 2
    assert main(["make-data", "--out", str(pairs), "--limit", "2", "--overwrite"]) == 0
    assert len(pairs.read_text().splitlines()) == 2
    with pytest.raises(SystemExit) as exit_:
        main(["make-data", "--out", str(tmp_path / "x.jsonl"), "--limit", "-2"])
    assert exit_.value.code == 2 and "--limit='-2' is out of range" in capsys.readouterr().err
