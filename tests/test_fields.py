"""Reading setting values as what they are (`lm_eval_latent.fields`)."""

from __future__ import annotations

import argparse

import pytest

from lm_eval_latent.fields import arg_int, arg_number, parse_bool, parse_int, parse_number


@pytest.mark.parametrize(("value", "expected"), [(4, 4), (-1.0, -1), ("3", 3), ("-2", -2), (" 7 ", 7), ("2.0", 2)])
def test_integer_fields_take_whole_numbers_as_lm_eval_passes_them(value, expected):
    assert parse_int(value, "seed") == expected


@pytest.mark.parametrize("value", [1.5, "2.7", "abc", "", None, True, "nan", "inf", float("inf")])
def test_integer_fields_refuse_the_rest_naming_field_and_value(value):
    with pytest.raises(ValueError) as err:
        parse_int(value, "steps", minimum=0)
    assert str(err.value).startswith(f"steps={value!r} is not an integer")
    assert "allowed: an integer >= 0" in str(err.value)


def test_integer_range_is_named():
    with pytest.raises(ValueError, match=r"limit=-2 is out of range \(allowed: an integer >= 1\)"):
        parse_int(-2, "limit", minimum=1)


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        ("abc", {}, "eta='abc' is not a number (allowed: a finite number >= 0)"),
        ("inf", {"above": True}, "eta='inf' is not finite (allowed: a finite number > 0)"),
        (0, {"above": True}, "eta=0 is not above 0 (allowed: a finite number > 0)"),
        (-1, {}, "eps=-1 is below 0"),
        (1.5, {"maximum": 1.0}, "tau=1.5 is above 1 (allowed: a finite number >= 0 and <= 1)"),
        (True, {}, "is not a number"),
    ],
)
def test_numbers_are_finite_and_in_range(value, kwargs, message):
    name = message.split("=")[0]
    with pytest.raises(ValueError) as err:
        parse_number(value, name, **kwargs)
    assert message in str(err.value)


def test_number_and_boolean_values():
    assert parse_number("1e-4", "eta", above=True) == 1e-4
    assert parse_number(None, "x", allow_none=True) is None
    assert parse_bool("yes", "merge_lora") is True and parse_bool(False, "merge_lora") is False
    with pytest.raises(ValueError, match="merge_lora='maybe' is not a boolean"):
        parse_bool("maybe", "merge_lora")


@pytest.mark.parametrize(("argv", "message"), [(["--limit", "-2"], "--limit='-2' is out of range"),
                                               (["--tau", "nan"], "--tau='nan' is not finite"),
                                               (["--tau", "1.5"], "--tau='1.5' is above 1")])
def test_argparse_types_exit_2_with_the_message(argv, message, capsys):
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=arg_int("--limit", minimum=1))
    p.add_argument("--tau", type=arg_number("--tau", minimum=0.0, maximum=1.0))
    with pytest.raises(SystemExit) as exit_:
        p.parse_args(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
