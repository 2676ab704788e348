"""`latent_requests`: grouping by setting, pairing rows with their ||delta||, the answers (no model)."""

from __future__ import annotations

import json
import math

from lm_eval.api.instance import Instance
from lm_eval.api.model import CacheHook

from lm_eval_latent.attacks.budget import Budget
from lm_eval_latent.model.latent_requests import Row, RowLog, answer, group_by_setting, join, per_layer, truncation_note
from lm_eval_latent.task_classes import protocol


def request(prompt: str, setting: protocol.Setting | None = None) -> Instance:
    gen = {"until": [], "max_gen_toks": 4}
    return Instance("generate_until", {}, (prompt, protocol.encode(gen, setting) if setting else gen), 0)


def test_groups_per_setting_plain_first_without_the_setting_in_the_kwargs():
    attack, control = protocol.Setting("attack", layer=1), protocol.Setting("control", layer=1)
    reqs = [request("a", attack), request("b"), request("c", control), request("d", attack)]
    groups = group_by_setting(reqs)
    assert list(groups) == [None, attack, control]
    assert [i for i, _ in groups[attack]] == [0, 3]
    assert all(protocol.KEY not in r.args[1] for members in groups.values() for _, r in members)
    assert protocol.KEY in reqs[0].args[1]  # the caller's requests are left as they are


class Recorder(CacheHook):
    def __init__(self) -> None:
        super().__init__(None)
        self.rows: list[tuple] = []

    def add_partial(self, attr, req, res) -> None:
        self.rows.append((attr, req[0], res))


def test_rows_take_the_numbers_of_the_batch_row_that_produced_them():
    hook = Recorder()
    log = RowLog(resolved=None, forward=hook, keep_to_self=False)
    log.add_batch([3.0, 1.0], [True, False])  # HFLM's first batch: the longer prompt first
    log.add_partial("generate_until", ("long prompt", {}), "x")
    log.add_partial("generate_until", ("p", {}), "y")
    log.add_batch([2.0], [True])
    log.add_partial("generate_until", ("p", {}), "z")  # the same prompt again, in a later batch
    assert log.take("p") == Row(1.0, False) and log.take("p") == Row(2.0, True)
    assert log.take("long prompt") == Row(3.0, True) and log.take("never seen") is None
    assert [r[1] for r in hook.rows] == ["long prompt", "p", "p"]  # passed on to the real hook
    quiet = RowLog(resolved=None, forward=hook, keep_to_self=True)
    quiet.add_partial("generate_until", ("q", {}), "w")
    assert len(hook.rows) == 3 and quiet.take("q") is None  # a setting's rows are kept to itself


class Resolved:
    class layer:
        spec = 2

    budget = Budget("p", 0.1)

    class recipe:
        name = "pgd_linf"


def test_answers():
    setting = protocol.Setting("attack")
    assert answer("text", None, None, None) == "text"
    assert answer("text", Row(1.0, False), None, Resolved) == protocol.NON_FINITE_TEXT
    reply = protocol.LatentReply.loads(answer("text", Row(1.5, True), setting, Resolved))
    assert (reply.text, reply.delta_norm, reply.ok, reply.layer, reply.budget) == ("text", 1.5, True, "2", "p=0.1")
    lost = protocol.LatentReply.loads(answer("text", None, setting, Resolved))
    assert math.isnan(lost.delta_norm) and not lost.ok
    assert json.loads(answer("t", None, protocol.Setting("clean"), None))["role"] == "clean"


def test_truncation_note_names_the_numbers():
    reqs = [request("one two three four five six")]
    assert truncation_note(reqs, 100, 10, str.split) is None
    note = truncation_note(reqs, 8, 10, str.split)
    assert "6 tokens > max_length 8 - max_gen_toks 4" in note


def test_a_layer_range_runs_once_per_layer_and_is_answered_together():
    ranged = protocol.Setting("attack", layers="0-1")
    reqs = [request("a", ranged), request("b"), request("c", protocol.Setting("clean"))]
    runs, parts = per_layer(reqs, lambda text: [1, "embedding"] if text == "0-1" else [])
    assert parts == [[0, 1], [2], [3]]
    assert [protocol.decode(r.args[1])[0] for r in runs[:2]] == [ranged.at_layer(1), ranged.at_layer("embedding")]
    assert [r.args[0] for r in runs] == ["a", "a", "b", "c"] and protocol.decode(reqs[0].args[1])[0] == ranged
    replies = [protocol.LatentReply(text=t, role="attack", layer=layer).dumps() for t, layer in (("x", "1"), ("y", "embedding"))]
    answers = join([*replies, "plain", "clean"], reqs, parts)
    assert [r.text for r in protocol.LatentReply.loads_many(answers[0])] == ["x", "y"]
    assert answers[1:] == ["plain", "clean"]
