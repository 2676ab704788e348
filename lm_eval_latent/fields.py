"""Reading one setting's value as what it is: a number, an integer, a boolean, a probability.

Values reach us as strings (``--metadata``, YAML, argparse) or as whatever lm-eval made of a
``--model_args`` string: ``"4"`` becomes ``4`` but ``"-1"`` becomes ``-1.0`` and ``"true"``
becomes ``True``. So an integer field accepts a float that is a whole number and refuses 1.5;
every error names the field, the bad value and what is allowed. The ``arg_*`` variants are
argparse ``type=`` functions: argparse turns their error into a usage message and exit status 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any



class SettingError(ValueError):
    """A setting whose value cannot be used: named with the field, the value and what is allowed.

    Raised by the parsers here and by the configs built on them (`PerturbConfig`, recipes,
    budgets, layers); `lm-eval-latent` turns it into a one-line error and exit status 2.
    """


class SettingFileNotFoundError(SettingError, FileNotFoundError):
    """A setting naming a file that does not exist (``direction=``, ``attack=``, ``lora=``): a
    setting error (one line, exit status 2), and still a FileNotFoundError for callers."""


# The largest magnitude a float32 holds: budgets beyond it overflow in any model we perturb.
FLOAT32_MAX = 3.4028234663852886e38


def _allowed(minimum: float | None, maximum: float | None, above: bool, kind: str) -> str:
    parts = [f"{'>' if above else '>='} {minimum:g}" if minimum is not None else "",
             f"<= {maximum:g}" if maximum is not None else ""]
    bounds = " and ".join(p for p in parts if p)
    return f"allowed: {kind}{' ' + bounds if bounds else ''}"


def parse_number(value: Any, name: str, *, minimum: float | None = 0.0, maximum: float | None = None,
                 above: bool = False, allow_none: bool = False) -> float | None:
    """Read a finite number in ``[minimum, maximum]`` (``(minimum, maximum]`` with ``above``).

    Raises:
        ValueError: naming the field, the value and what is allowed.
    """
    allowed = _allowed(minimum, maximum, above, "a finite number")
    if value is None or value == "":
        if allow_none:
            return None
        raise SettingError(f"{name} is required ({allowed})")
    if isinstance(value, bool):
        raise SettingError(f"{name}={value!r} is not a number ({allowed})")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise SettingError(f"{name}={value!r} is not a number ({allowed})") from None
    if not math.isfinite(number):
        raise SettingError(f"{name}={value!r} is not finite ({allowed})")
    if minimum is not None and (number <= minimum if above else number < minimum):
        raise SettingError(f"{name}={value!r} is {'not above' if above else 'below'} {minimum:g} ({allowed})")
    if maximum is not None and number > maximum:
        raise SettingError(f"{name}={value!r} is above {maximum:g} ({allowed})")
    return number


def parse_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Read an integer; a whole float (``-1.0``, what lm-eval makes of ``"-1"``) counts, 1.5 does not.

    Raises:
        ValueError: naming the field, the value and what is allowed.
    """
    allowed = _allowed(minimum, maximum, False, "an integer")
    if isinstance(value, bool) or value is None:
        raise SettingError(f"{name}={value!r} is not an integer ({allowed})")
    if isinstance(value, int):
        number = value
    else:
        try:
            as_float = float(value)
        except (TypeError, ValueError, OverflowError):
            raise SettingError(f"{name}={value!r} is not an integer ({allowed})") from None
        if not math.isfinite(as_float) or as_float != int(as_float):
            raise SettingError(f"{name}={value!r} is not an integer ({allowed})")
        number = int(as_float)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise SettingError(f"{name}={value!r} is out of range ({allowed})")
    return number


def parse_bool(value: Any, name: str) -> bool:
    """Read a boolean from a CLI value (true/false/1/0/yes/no)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise SettingError(f"{name}={value!r} is not a boolean (allowed: true, false)")


def _arg_type(parse: Callable[[str], Any], flag: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = flag  # argparse names the type in some messages
    return convert


def arg_int(flag: str, *, minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=`` reading an integer in range (``--limit``, ``--steps``)."""
    return _arg_type(lambda text: parse_int(text, flag, minimum=minimum, maximum=maximum), flag)


def arg_number(flag: str, *, minimum: float | None = None, maximum: float | None = None,
               above: bool = False) -> Callable[[str], float]:
    """An argparse ``type=`` reading a finite number in range (``--tau``, ``--lr``)."""
    return _arg_type(lambda text: parse_number(text, flag, minimum=minimum, maximum=maximum, above=above), flag)
