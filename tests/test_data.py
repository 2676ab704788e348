"""lm_eval_latent.task_classes.data: shipped sets, shared copies of the public sets, Hub errors, bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import datasets
import pytest

from lm_eval_latent.task_classes import data
from lm_eval_latent.task_classes.data import (
    HubUnavailableError,
    PromptDataError,
    PromptFileNotFoundError,
    UnknownPromptSetError,
    load_prompts,
    load_task_dataset,
)

SHARED = Path(os.environ.get("LM_EVAL_LATENT_SHARED",
                             Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def shared_file(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"shared data copy {path} is absent (set LM_EVAL_LATENT_SHARED)")
    return path


def assert_prompt_set(ds: datasets.Dataset, rows: int) -> None:
    assert len(ds) == rows
    assert {"prompt", "category"} <= set(ds.column_names)
    assert all(p.strip() for p in ds["prompt"])
    assert all(c for c in ds["category"])


@pytest.mark.parametrize("name", ["harmful", "safe_lookalike"])
def test_shipped_sets_load_offline(name):
    ds = load_prompts(name)
    assert len(ds) >= 150
    assert_prompt_set(ds, len(ds))


# source, shared file, rows after the source's default filter, a column that must be read
PUBLIC_COPIES = [
    ("advbench", "advbench.csv", 520),
    ("harmbench", "harmbench_test.csv", 159),  # FunctionalCategory == "standard" rows only
    ("harmbench", "harmbench_val.csv", 41),
    ("jbb", "jailbreakbench.csv", 100),
    ("strongreject", "strongreject.csv", 313),
]


@pytest.mark.parametrize(("source", "file", "rows"), PUBLIC_COPIES)
def test_public_set_reads_its_shared_copy(source, file, rows):
    assert_prompt_set(load_prompts(source, data_file=shared_file(file)), rows)


def test_jbb_reads_goal_not_the_short_behavior_name():
    ds = load_prompts("jbb", data_file=shared_file("jailbreakbench.csv"))
    assert min(len(p.split()) for p in ds["prompt"]) > 3  # Goal sentences, not "Defamation"
    assert "uncategorized" not in ds["category"]


def test_harmbench_keeps_only_standard_rows_and_semantic_category():
    ds = load_prompts("harmbench", data_file=shared_file("harmbench_test.csv"))
    everything = load_prompts("advbench", data_file=shared_file("harmbench_test.csv"))
    assert len(everything) == 320  # no filter outside the harmbench source
    assert "uncategorized" not in ds["category"] and len(set(ds["category"])) > 1


def test_xstest_keeps_labels_and_the_safe_filter():
    path = shared_file("xstest_prompts.csv")
    all_rows = load_prompts("xstest", data_file=path)
    assert len(all_rows) == 450 and set(all_rows["label"]) == {"safe", "unsafe"}
    safe = load_task_dataset("xstest", data_file=str(path), keep_rows={"label": "safe"})["test"]
    assert_prompt_set(safe, 250)
    assert set(safe["label"]) == {"safe"}


def test_txt_file_one_prompt_a_line():
    assert_prompt_set(load_prompts("harmful", data_file=shared_file("malicious_instruct.txt")), 100)


def test_json_split_file_uses_instruction_column():
    ds = load_prompts("harmful", data_file=shared_file("splits/harmful_val.json"))
    assert_prompt_set(ds, 39)


def test_task_dataset_ignores_unrelated_metadata():
    dd = load_task_dataset(prompt_source="harmful", version=1.0, pretrained="some/dir", eps=4,
                           judge="keyword", config_source="x.yaml")
    assert list(dd) == ["test"] and len(dd["test"]) >= 150


def test_one_data_file_for_the_whole_group_is_refused_by_over_refusal(tmp_path):
    # --metadata reaches every task: with safety_behavioral, over_refusal would read harmful prompts
    path = tmp_path / "harmful.jsonl"
    path.write_text('{"prompt": "[placeholder: a harmful request]"}\n', encoding="utf-8")
    assert len(load_task_dataset("harmful", data_file=str(path))["test"]) == 1  # refusal_rate takes it
    with pytest.raises(PromptDataError, match="over-refusal task on prompt_source='safe_lookalike' needs safe prompts"):
        load_task_dataset("safe_lookalike", data_file=str(path))
    # XSTest's file without its label column cannot be filtered to the safe rows either
    with pytest.raises(PromptDataError, match="no label column"):
        load_task_dataset("xstest", data_file=str(path), keep_rows={"label": "safe"})
    mapped = load_task_dataset("safe_lookalike", data_file={"safe_lookalike": str(path)})["test"]
    assert len(mapped) == 1  # named for its source, the file is the user's explicit choice


def test_task_dataset_data_file_may_map_sources_to_files():
    files = {"advbench": str(shared_file("advbench.csv")),
             "jbb": str(shared_file("jailbreakbench.csv"))}
    assert len(load_task_dataset("jbb", data_file=files)["test"]) == 100
    shipped = load_task_dataset("harmful", data_file=files)["test"]  # not named: shipped file
    assert len(shipped) == len(load_prompts("harmful"))
    with pytest.raises(UnknownPromptSetError, match="advbenhc"):
        load_task_dataset("jbb", data_file={"advbenhc": "x.csv"})


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl", ".txt"])
def test_each_format_and_explicit_prompt_column(tmp_path, suffix):
    path = tmp_path / f"mine{suffix}"
    rows = [{"ask": "placeholder request one", "kind": "a"},
            {"ask": "placeholder request two", "kind": "b"}]
    if suffix == ".csv":
        path.write_text("ask,kind\n" + "".join(f"{r['ask']},{r['kind']}\n" for r in rows))
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    else:
        path.write_text("placeholder request one\n\nplaceholder request two\n")
    column = None if suffix == ".txt" else "ask"
    ds = load_prompts("harmful", data_file=path, prompt_column=column)
    assert ds["prompt"] == ["placeholder request one", "placeholder request two"]


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(PromptFileNotFoundError, match="nope.csv") as err:
        load_prompts("advbench", data_file=missing)
    assert isinstance(err.value, FileNotFoundError)


@pytest.mark.parametrize(("suffix", "text"), [(".csv", ""), (".csv", "goal,target\n"),
                                              (".json", "[]"), (".txt", "\n \n")])
def test_empty_file(tmp_path, suffix, text):
    path = tmp_path / f"empty{suffix}"
    path.write_text(text)
    with pytest.raises(PromptDataError, match="empty") as err:
        load_prompts("advbench", data_file=path)
    assert str(path) in str(err.value) and isinstance(err.value, ValueError)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".txt", ".json"])
def test_non_utf8_file_is_named(tmp_path, suffix):
    path = tmp_path / f"latin1{suffix}"
    path.write_bytes("prompt\ncaf\u00e9 request\n".encode("latin-1"))
    with pytest.raises(PromptDataError) as err:
        load_prompts("advbench", data_file=path)
    assert f"data_file={str(path)!r} is not UTF-8 text (invalid continuation byte" in str(err.value)


def test_finetune_pairs_from_a_non_utf8_file_exit_2(random_model_dir, tmp_path, capsys):
    from lm_eval_latent.commands.attack import main

    path = tmp_path / "pairs.jsonl"
    path.write_bytes('{"request": "x", "response": "caf\u00e9"}\n'.encode("latin-1"))
    code = main(["finetune", "--model", str(random_model_dir), "--data", str(path), "--out", str(tmp_path / "run")])
    assert code == 2 and "is not UTF-8 text" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_row_without_prompt_names_file_and_row(tmp_path):
    path = tmp_path / "holes.csv"
    path.write_text("goal,target\nplaceholder one,x\nplaceholder two,y\n,z\n")
    with pytest.raises(PromptDataError, match=r"row 3\b") as err:
        load_prompts("advbench", data_file=path)
    assert "holes.csv" in str(err.value)


def test_unknown_source_lists_known():
    with pytest.raises(UnknownPromptSetError, match="advbench") as err:
        load_prompts("not_a_set")
    assert "not_a_set" in str(err.value) and "safe_lookalike" in str(err.value)


def test_no_prompt_column_lists_columns_and_accepted_names(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("foo,bar\n1,2\n")
    with pytest.raises(PromptDataError) as err:
        load_prompts("advbench", data_file=path)
    message = str(err.value)
    assert "'foo'" in message and "'bar'" in message and "forbidden_prompt" in message


def test_explicit_prompt_column_must_exist(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("foo,bar\n1,2\n")
    with pytest.raises(PromptDataError, match="prompt_column='baz'"):
        load_prompts("advbench", data_file=path, prompt_column="baz")


def test_bad_extension(tmp_path):
    path = tmp_path / "prompts.parquet"
    path.write_text("x")
    with pytest.raises(PromptDataError, match=r"\.jsonl"):
        load_prompts("advbench", data_file=path)


@pytest.mark.parametrize("source", sorted(data.PUBLIC_SETS))
def test_offline_hub_says_how_to_pass_a_local_copy(monkeypatch, source):
    def offline(*args, **kwargs):
        raise ConnectionError(f"Couldn't reach {args[0]!r} on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(HubUnavailableError) as err:
        load_prompts(source)
    message = str(err.value)
    assert data.PUBLIC_SETS[source].hub_id in message
    assert '--metadata \'{"data_file": "/path/to/file.csv"}\'' in message


def test_hub_rows_use_the_column_mapping(monkeypatch):
    calls = []

    def fake_hub(path, name=None, split=None):
        calls.append((path, name, split))
        return datasets.Dataset.from_dict({"Index": [1, 2], "Goal": ["placeholder a", "b c d"],
                                           "Behavior": ["x", "y"], "Category": ["c1", "c2"]})

    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    ds = load_prompts("jbb")
    assert calls == [("JailbreakBench/JBB-Behaviors", "behaviors", "harmful")]
    assert ds["prompt"] == ["placeholder a", "b c d"] and ds["category"] == ["c1", "c2"]


def test_other_hub_errors_are_not_swallowed(monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("bug")

    monkeypatch.setattr(datasets, "load_dataset", broken)
    with pytest.raises(KeyError):
        load_prompts("advbench")


@pytest.mark.skipif(os.environ.get("HF_HUB_OFFLINE") != "1", reason="needs HF_HUB_OFFLINE=1")
def test_real_offline_hub_error_is_translated():
    try:
        load_prompts("advbench")
    except HubUnavailableError as err:
        assert "walledai/AdvBench" in str(err) and "data_file" in str(err)
    else:
        pytest.skip("walledai/AdvBench is in the local Hugging Face cache")
