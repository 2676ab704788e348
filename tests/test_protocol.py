"""The seam between task and model: `protocol.Setting`, its encode/decode pair and `LatentReply`."""

from __future__ import annotations

import math

import pytest

from lm_eval_latent.attacks.budget import Budget
from lm_eval_latent.task_classes import protocol
from lm_eval_latent.task_classes.protocol import LatentReply, Setting


def test_encode_decode_round_trip_keeps_the_setting_and_the_other_kwargs():
    setting = Setting("attack", layer=-1, budget=Budget("p", 0.001), attack="pgd_l2")
    gen = {"until": ["\n"], "max_gen_toks": 8}
    encoded = protocol.encode(gen, setting)
    assert gen == {"until": ["\n"], "max_gen_toks": 8}  # the task's own kwargs are not touched
    decoded, rest = protocol.decode(encoded)
    assert decoded == setting and rest == gen
    assert protocol.decode(gen) == (None, gen)  # a plain request
    assert protocol.decode({**gen, protocol.KEY: setting})[0] is setting  # built by hand, in process


def test_an_encoded_request_is_json_data():
    """lm-eval hashes request arguments with json.dumps for --use_cache and logs them."""
    import json

    from lm_eval.api.model import hash_args

    gen = protocol.encode({"until": []}, Setting("control", layer="embedding", budget=Budget("eps", 2.0)))
    assert protocol.decode(json.loads(json.dumps(gen)))[0] == Setting("control", "embedding", Budget("eps", 2.0))
    other = protocol.encode({"until": []}, Setting("control", layer="embedding", budget=Budget("eps", 3.0)))
    assert hash_args("generate_until", ("q", gen)) != hash_args("generate_until", ("q", other))


def test_settings_group_by_value_and_controls_share_layer_and_budget():
    a = Setting("attack", layer=4, budget=Budget("eps", 2.0))
    assert len({a, Setting("attack", layer=4, budget=Budget("eps", 2.0))}) == 1
    control = a.as_role("control")
    assert (control.role, control.layer, control.budget) == ("control", 4, Budget("eps", 2.0))
    assert a != control


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role": "steer"}, "role='steer' is not known (allowed: clean, attack, control)"),
        ({"layer": "4"}, "layer='4' is not a layer"),
        ({"layer": True}, "layer=True is not a layer"),
        ({"budget": {"kind": "p", "value": 0.1}}, "is not a Budget"),
    ],
)
def test_bad_settings_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Setting(**kwargs)


def test_embedding_is_a_layer():
    assert Setting("attack", layer="embedding").layer == "embedding"


def test_decode_refuses_a_value_that_is_not_a_setting():
    with pytest.raises(ValueError, match="'latent'=.* is not a protocol.Setting"):
        protocol.decode({protocol.KEY: {"role": "attack"}})


def test_reply_round_trip_and_non_finite_norm():
    reply = LatentReply(text="ok", delta_norm=1.5, role="attack", layer="2", budget="p=0.001", attack="pgd_linf")
    assert LatentReply.loads(reply.dumps()) == reply
    broken = LatentReply.loads(LatentReply(text="x", delta_norm=math.inf, role="attack").dumps())
    assert not broken.ok and math.isnan(broken.delta_norm)


def test_bare_text_reply_is_not_ok():
    # A model that ignores the setting answers bare text: the row must not count as scored.
    reply = LatentReply.loads("Sure, here is")
    assert reply.text == "Sure, here is" and not reply.ok and reply.role == "unknown"


def test_a_layer_range_travels_in_the_setting_and_a_single_layer_request_is_as_before():
    ranged = Setting("attack", layers="all")
    assert ranged.as_data()["layers"] == "all" and "layers" not in Setting("attack", layer=1).as_data()
    assert Setting.from_data(ranged.as_data()) == ranged
    assert ranged.as_role("control").at_layer(2) == Setting("control", layer=2)
    with pytest.raises(ValueError, match="both given"):
        Setting("attack", layer=1, layers="all")
    with pytest.raises(ValueError, match="layers: cannot read 'x'"):
        Setting("attack", layers="1,x")


def test_the_replies_of_a_range_come_back_one_per_layer():
    replies = [LatentReply(text=t, delta_norm=1.0, role="attack", layer=layer) for t, layer in (("a", "embedding"), ("b", "0"))]
    both = LatentReply.loads_many(LatentReply.dumps_many([r.dumps() for r in replies]))
    assert both == replies
    assert LatentReply.loads_many(replies[0].dumps()) == [replies[0]]
    [bare] = LatentReply.loads_many("Sure, here is")  # a model that ignores the setting: one unscored row
    assert not bare.ok
