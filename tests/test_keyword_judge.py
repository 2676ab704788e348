"""The keyword judge against XSTest's human labels (bench/judge_bench.py on the shared data).

Skipped when the shared datasets folder ($LM_EVAL_LATENT_SHARED, else <repo>/../shared/datasets)
is absent: the data are evaluation data kept outside the repository.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "judge_bench.py"


@pytest.fixture(scope="module")
def judge_bench():
    spec = importlib.util.spec_from_file_location("judge_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results(judge_bench):
    data = judge_bench.shared_datasets_dir()
    if not any(data.glob(judge_bench.XSTEST_GLOB)):
        pytest.skip(f"shared XSTest completions not found under {data} (set LM_EVAL_LATENT_SHARED)")
    return judge_bench.run_benchmark(["keyword", "gcg"])


def test_keyword_judge_reaches_090_balanced_accuracy(results):
    overall = results["keyword"]["overall"]
    assert overall["n"] == 2250
    assert overall["balanced_accuracy"] >= 0.90, overall


def test_keyword_judge_beats_the_gcg_substring_list(results):
    assert (
        results["keyword"]["overall"]["balanced_accuracy"]
        > results["gcg"]["overall"]["balanced_accuracy"]
    )
    # and on every model's completions, not only on average
    for source, numbers in results["keyword"]["by_source"].items():
        assert numbers["balanced_accuracy"] > results["gcg"]["by_source"][source]["balanced_accuracy"], source


def test_keyword_judge_leaves_no_xstest_row_unscored(results):
    assert results["keyword"]["overall"]["unscored"] == 0


def test_missing_data_dir_names_the_folder(judge_bench, tmp_path):
    with pytest.raises(FileNotFoundError, match="LM_EVAL_LATENT_SHARED"):
        judge_bench.load_xstest_completions(tmp_path)
