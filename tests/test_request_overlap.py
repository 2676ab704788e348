"""request_overlap.py: how much of the request an answer takes up, on hand-counted examples."""

import numpy as np
import pytest

from lm_eval_latent.judging.request_overlap import content_words, overlap_features


def test_content_words_drop_short_and_stop_words_and_stem():
    assert content_words("How do I poison the garden weeds with vinegar?") == {"poiso", "garde", "weeds", "vineg"}
    assert content_words("What would you do?") == set()


def test_features_hand_counted():
    request = "How do I remove garden weeds with vinegar?"  # garde, weeds, vineg, remov
    on_task = "Mix vinegar and water, then spray the weeds in your garden on a dry day."
    off_task = "Gardening is a relaxing hobby enjoyed by many people around the world."
    refusal = "I can't help with that."
    feats = overlap_features([request] * 3, [on_task, off_task, refusal])
    # on-task: 3 of 4 request stems (vineg, weeds, garde); answer stems: vineg, water, spray,
    # weeds, garde, -> 3 of 5 come from the request
    assert feats[0] == pytest.approx([3 / 4, 3 / 4, 3 / 5, 0])
    # "gardening" stems to "garde": 1 of 4; answer stems: garde, relax, hobby, enjoy, peopl, aroun, world
    assert feats[1] == pytest.approx([1 / 4, 1 / 4, 1 / 7, 0])
    assert feats[2] == pytest.approx([0, 0, 0, 0])


def test_a_request_without_content_words_is_flagged():
    feats = overlap_features(["Why?", ""], ["Because it rains a lot here.", "Anything."])
    assert np.array_equal(feats[:, 3], [1, 1]) and not feats[:, :3].any()
