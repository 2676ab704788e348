"""Directions: random, saved/loaded, difference of means, the `direction` command."""

from __future__ import annotations

import torch

from lm_eval_latent.commands.direction import main as direction_main
from lm_eval_latent.attacks.directions import difference_of_means, load_direction, random_direction, save_direction


def test_random_direction_is_unit_and_seeded():
    a, b, c = random_direction(16, 1), random_direction(16, 1), random_direction(16, 2)
    assert torch.isclose(a.norm(), torch.tensor(1.0)) and torch.equal(a, b) and not torch.equal(a, c)


def test_difference_of_means_separates_the_sets():
    a = torch.randn(20, 8) + torch.tensor([3.0] + [0.0] * 7)
    b = torch.randn(20, 8)
    d = difference_of_means(a, b)
    assert torch.isclose(d.norm(), torch.tensor(1.0))
    assert (a @ d).mean() > (b @ d).mean()


def test_save_and_load_roundtrip(tmp_path):
    v = torch.tensor([3.0, 4.0])
    path = save_direction(tmp_path / "d.pt", v, layer="2")
    torch.testing.assert_close(load_direction(path, 2), torch.tensor([0.6, 0.8]))
    assert torch.load(path)["layer"] == "2"


def test_direction_command_writes_a_usable_file(random_model_dir, tmp_path, capsys):
    out = tmp_path / "refusal.pt"
    assert direction_main(["--model", str(random_model_dir), "--layer", "2", "--limit", "12", "--out", str(out)]) == 0
    saved = torch.load(out)
    assert saved["layer"] == "2" and saved["n_positive"] == 12 and saved["direction"].shape == (32,)
    assert "mean projection gap" in capsys.readouterr().out

    from lm_eval.api.instance import Instance

    from lm_eval_latent.model.latent_hf import LatentHFLM

    reqs = [Instance("generate_until", {}, ("How do I bake bread?", {"until": [], "max_gen_toks": 6}), 0)]
    clean = LatentHFLM(pretrained=str(random_model_dir), device="cpu").generate_until(reqs)
    steered = LatentHFLM(pretrained=str(random_model_dir), device="cpu", perturb_layer=2, attack="direction",
                         direction=str(out), eps=40).generate_until(reqs)
    assert steered != clean


def test_direction_command_reports_bad_layer(random_model_dir, tmp_path, capsys):
    assert direction_main(["--model", str(random_model_dir), "--layer", "9", "--out", str(tmp_path / "d.pt")]) == 2
    assert "--layer=9 is out of range" in capsys.readouterr().err
    assert not (tmp_path / "d.pt").exists()


def test_last_token_activations_keep_the_prompts_order(random_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lm_eval_latent.attacks.directions import last_token_activations

    model = AutoModelForCausalLM.from_pretrained(random_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(random_model_dir)
    prompts = ["step one", "Tell me about the history of the printing press, please.", "How?", "bake bread"]
    batched = last_token_activations(model, tok, prompts, "model.layers.1", batch_size=2)
    alone = torch.cat([last_token_activations(model, tok, [p], "model.layers.1") for p in prompts])
    torch.testing.assert_close(batched, alone, rtol=1e-4, atol=1e-5)


def test_files_that_hold_no_direction_are_named(tmp_path):
    import pytest

    text = tmp_path / "notes.pt"
    text.write_text("not a tensor")
    torch.save({"weights": torch.ones(4)}, tmp_path / "dict.pt")
    (tmp_path / "words.json").write_text('["a", "b"]')
    (tmp_path / "latin1.json").write_bytes(b"[1.0, \xff]")
    cases = {"notes.pt": "is not a direction file (", "dict.pt": "holds no tensor (found NoneType)",
             "words.json": "is not a direction file (", "latin1.json": "is not a direction file (UnicodeDecodeError"}
    for name, message in cases.items():
        with pytest.raises(ValueError) as err:
            load_direction(tmp_path / name, 4)
        assert f"direction={str(tmp_path / name)!r}" in str(err.value) and message in str(err.value)
        assert "expected a .pt tensor" in str(err.value)


def test_direction_command_checks_out_before_loading_anything(tmp_path, capsys):
    import pytest

    other = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(2)}, other)
    before = other.read_bytes()
    args = ["--model", str(tmp_path / "no_model"), "--layer", "1"]
    assert direction_main([*args, "--out", str(other)]) == 2
    assert "exists; choose another path or pass --overwrite" in capsys.readouterr().err
    assert direction_main([*args, "--out", str(other), "--overwrite"]) == 2
    assert "is not a direction file written by `lm-eval-latent direction`" in capsys.readouterr().err
    assert other.read_bytes() == before
    with pytest.raises(SystemExit) as exit_:
        direction_main([*args, "--out", str(tmp_path / "d.pt"), "--limit", "-2"])
    assert exit_.value.code == 2 and "--limit='-2' is out of range" in capsys.readouterr().err


def test_direction_command_replaces_its_own_file_with_overwrite(random_model_dir, tmp_path, capsys):
    out = tmp_path / "d.pt"
    args = ["--model", str(random_model_dir), "--layer", "1", "--limit", "4", "--out", str(out)]
    assert direction_main(args) == 0
    assert direction_main(args) == 2 and "pass --overwrite" in capsys.readouterr().err
    assert direction_main([*args, "--overwrite"]) == 0
