"""Prompt sets for the behavioural tasks: shipped, from the Hugging Face Hub, or from a local file.

    load_prompts("harmful")                                    # shipped, offline
    load_prompts("advbench")                                   # walledai/AdvBench from the Hub
    load_prompts("harmbench", data_file="harmbench_test.csv")  # a local copy instead of the Hub

Every source comes out as a `datasets.Dataset` with the columns `prompt` and `category` (plus
`label` when the source has one, e.g. XSTest's safe/unsafe). The prompt column is found by name
(`PROMPT_COLUMNS`, case-insensitive, first match wins) or named with `prompt_column`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from lm_eval_latent.task_classes import prompts as _shipped

PROMPT_COLUMNS = ("prompt", "goal", "behavior", "forbidden_prompt", "instruction", "question",
                  "query", "text", "input")
CATEGORY_COLUMNS = ("category", "semanticcategory", "semantic_category", "type")
NO_CATEGORY = "uncategorized"
FILE_FORMATS = (".csv", ".json", ".jsonl", ".txt")
METADATA_HINT = "--metadata '{\"data_file\": \"/path/to/file.csv\"}'"


class PromptDataError(ValueError):
    """A prompt set that cannot be read: empty, a row without a prompt, no prompt column."""


class PromptFileNotFoundError(PromptDataError, FileNotFoundError):
    """A local prompt file that does not exist."""


class UnknownPromptSetError(PromptDataError):
    """A source name that is neither shipped nor a known public set."""


class HubUnavailableError(PromptDataError, ConnectionError):
    """A public set that could not be fetched from the Hub (offline, gated, not found)."""


@dataclass(frozen=True)
class PublicSet:
    """Where a public prompt set lives on the Hub, and which of its rows to keep.

    `keep` maps a column to the one value whose rows stay; it applies only when the column exists,
    so the Hub's pre-filtered configs and the raw files both work.
    """

    hub_id: str
    hub_config: str | None = None
    hub_split: str = "train"
    keep: Mapping[str, str] = field(default_factory=dict)


PUBLIC_SETS: dict[str, PublicSet] = {
    "advbench": PublicSet("walledai/AdvBench"),
    # The Hub config "standard" is already filtered; the raw csv has FunctionalCategory.
    "harmbench": PublicSet("walledai/HarmBench", "standard",
                           keep={"FunctionalCategory": "standard"}),
    "jbb": PublicSet("JailbreakBench/JBB-Behaviors", "behaviors", "harmful"),
    "strongreject": PublicSet("walledai/StrongREJECT"),
    "xstest": PublicSet("walledai/XSTest", hub_split="test"),
}
SHIPPED_SETS = ("harmful", "safe_lookalike")
# Sources of the over-refusal tasks: their prompts must be safe (XSTest's file is filtered to its
# safe rows by its `label` column).
SAFE_SOURCES = ("safe_lookalike", "xstest")


def known_sources() -> list[str]:
    """All source names `load_prompts` accepts."""
    return sorted({*SHIPPED_SETS, *_shipped.shipped_sets(), *PUBLIC_SETS})


def load_prompts(
    source: str,
    *,
    data_file: str | Path | None = None,
    prompt_column: str | None = None,
    keep: Mapping[str, str] | None = None,
) -> datasets.Dataset:
    """Load a prompt set as a Dataset with columns `prompt`, `category` (and `label` if present).

    Args:
        source: A shipped set ("harmful", "safe_lookalike") or a public set ("advbench",
            "harmbench", "jbb", "strongreject", "xstest"). With `data_file` it only picks the
            row filter for that set.
        data_file: A local csv, json, jsonl or txt file (one prompt a line) read instead of the
            Hub or the shipped file.
        prompt_column: The column holding the prompt; found by name when None.
        keep: Extra `{column: value}` row filters, merged over the set's own (e.g. XSTest's
            `{"label": "safe"}` for over-refusal). A filter on a missing column is ignored.

    Raises:
        UnknownPromptSetError: `source` is not known (lists the known ones).
        PromptFileNotFoundError: `data_file` does not exist.
        PromptDataError: empty file, a row without a prompt, no recognised prompt column.
        HubUnavailableError: the Hub could not be reached; says how to pass a local copy.
    """
    if source not in known_sources():
        raise UnknownPromptSetError(
            f"unknown prompt set source={source!r} (known: {', '.join(known_sources())})")
    public = PUBLIC_SETS.get(source)
    filters = {**(public.keep if public else {}), **(keep or {})}
    if data_file is not None:
        path = Path(data_file).expanduser()
        rows, where = read_prompt_file(path), str(path)
    elif public is None:
        path = _shipped.prompt_set_path(source)
        rows, where = read_prompt_file(path), str(path)
    else:
        rows, where = _load_hub_rows(public), f"{public.hub_id} (Hub)"
    return _to_dataset(rows, where, prompt_column=prompt_column, keep=filters)


def load_task_dataset(
    prompt_source: str,
    data_file: str | Mapping[str, str] | None = None,
    prompt_column: str | None = None,
    keep_rows: Mapping[str, str] | None = None,
    split: str = "test",
    **_other_metadata: Any,
) -> datasets.DatasetDict:
    """`load_prompts` in the shape lm-eval's `custom_dataset` hook expects.

    lm-eval calls `custom_dataset(**metadata, **dataset_kwargs)`: the task YAML's dataset_kwargs
    give `prompt_source` (and `keep_rows`), `--metadata` may give `data_file` and
    `prompt_column`, and every other metadata key (the task version, the model arguments) is
    ignored. `--metadata` reaches every task of a run, so `data_file` may also map source names
    to files (`{"advbench": "a.csv", "xstest": "x.csv"}`); a source it does not name keeps its
    default. Returns a DatasetDict with the one split `split`.
    """
    one_file_for_all = bool(data_file) and not isinstance(data_file, Mapping) and prompt_source in SAFE_SOURCES
    if isinstance(data_file, Mapping):
        unknown = sorted(set(data_file) - set(known_sources()))
        if unknown:
            raise UnknownPromptSetError(
                f"data_file names unknown prompt sources {unknown} "
                f"(known: {', '.join(known_sources())})")
        data_file = data_file.get(prompt_source)
    elif one_file_for_all and not _row_filters(prompt_source, keep_rows):
        _refuse_one_file(prompt_source, str(data_file), "nothing tells its safe prompts from harmful ones")
    ds = load_prompts(prompt_source, data_file=data_file or None,
                      prompt_column=prompt_column or None, keep=keep_rows)
    if one_file_for_all:
        missing = sorted(set(_row_filters(prompt_source, keep_rows)) - set(ds.column_names))
        if missing:
            _refuse_one_file(prompt_source, str(data_file), f"it has no {', '.join(missing)} column to keep "
                                                          "the safe rows by")
    return datasets.DatasetDict({split: ds})


def _row_filters(source: str, keep_rows: Mapping[str, str] | None) -> dict[str, str]:
    """The ``{column: value}`` filters a source's rows pass (its public set's and the YAML's)."""
    return {**(PUBLIC_SETS[source].keep if source in PUBLIC_SETS else {}), **(keep_rows or {})}


def _refuse_one_file(source: str, data_file: str, why: str) -> None:
    """One plain ``data_file`` reaches every task of a run (``--metadata`` is global): with the
    ``safety_behavioral`` group, ``over_refusal`` would read the harmful prompts meant for
    ``refusal_rate`` and report them as over-refusal, so an over-refusal source refuses a file it
    cannot filter to safe rows."""
    example = json.dumps({"data_file": {source: "safe_prompts.csv", "harmful": "harmful_prompts.csv"}})
    raise PromptDataError(
        f"data_file={data_file!r} is one file for every task of the run, but the over-refusal task on "
        f"prompt_source={source!r} needs safe prompts and {why}; name each source's file: --metadata '{example}'")


def read_prompt_file(path: str | Path) -> list[dict[str, Any]]:
    """Read a local prompt file into rows (dicts); a txt file gives `{"prompt": line}` rows.

    Blank lines in txt and jsonl files are skipped. Raises PromptFileNotFoundError or
    PromptDataError (unknown extension, unparsable or empty file).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise PromptFileNotFoundError(f"data_file={str(path)!r} does not exist or is not a file")
    suffix = path.suffix.lower()
    if suffix not in FILE_FORMATS:
        raise PromptDataError(f"data_file={str(path)!r} has extension {suffix!r} "
                              f"(allowed: {', '.join(FILE_FORMATS)})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise PromptDataError(f"data_file={str(path)!r} is not UTF-8 text ({err.reason} at byte {err.start}); "
                              "save it as UTF-8") from None
    if not text.strip():
        raise PromptDataError(f"data_file={str(path)!r} is empty")
    try:
        if suffix == ".txt":
            rows = [{"prompt": line} for line in text.splitlines() if line.strip()]
        elif suffix == ".csv":
            rows = list(csv.DictReader(text.splitlines(keepends=True)))
        elif suffix == ".jsonl":
            rows = [_as_row(json.loads(line)) for line in text.splitlines() if line.strip()]
        else:
            loaded = json.loads(text)
            if not isinstance(loaded, list):
                raise PromptDataError(
                    f"data_file={str(path)!r} holds a JSON {type(loaded).__name__}; "
                    "expected a list of objects or strings")
            rows = [_as_row(item) for item in loaded]
    except json.JSONDecodeError as err:
        raise PromptDataError(f"data_file={str(path)!r} is not valid JSON: {err}") from None
    if not rows:
        raise PromptDataError(f"data_file={str(path)!r} is empty (no rows)")
    return rows


def _as_row(item: Any) -> dict[str, Any]:
    return item if isinstance(item, dict) else {"prompt": item}


def _load_hub_rows(public: PublicSet) -> list[dict[str, Any]]:
    try:
        ds = datasets.load_dataset(public.hub_id, public.hub_config, split=public.hub_split)
    except Exception as err:  # offline, gated, moved: all end the same way for the user
        if not _is_hub_failure(err):
            raise
        config = f", config {public.hub_config!r}" if public.hub_config else ""
        raise HubUnavailableError(
            f"could not load {public.hub_id!r}{config} from the Hugging Face Hub "
            f"({type(err).__name__}: {err}). If it is gated, accept its terms and log in "
            f"(`hf auth login`); offline, pass a local copy with {METADATA_HINT}") from err
    return list(ds)


def _is_hub_failure(err: Exception) -> bool:
    from datasets.exceptions import DatasetNotFoundError
    from huggingface_hub.errors import HfHubHTTPError

    return isinstance(err, (ConnectionError, TimeoutError, DatasetNotFoundError, HfHubHTTPError))


def _find_column(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    by_lower = {c.lower(): c for c in columns}
    return next((by_lower[name] for name in candidates if name in by_lower), None)


def _to_dataset(
    rows: list[dict[str, Any]],
    where: str,
    *,
    prompt_column: str | None,
    keep: Mapping[str, str],
) -> datasets.Dataset:
    if not rows:
        raise PromptDataError(f"{where} is empty (no rows)")
    columns = [c for c in rows[0] if c is not None]
    if prompt_column is not None:
        if prompt_column not in columns:
            raise PromptDataError(f"prompt_column={prompt_column!r} is not a column of {where} "
                                  f"(columns found: {', '.join(map(repr, columns))})")
        prompt_col = prompt_column
    else:
        prompt_col = _find_column(columns, PROMPT_COLUMNS)
        if prompt_col is None:
            raise PromptDataError(
                f"no prompt column in {where} (columns found: {', '.join(map(repr, columns))}; "
                f"names accepted, any case: {', '.join(PROMPT_COLUMNS)}); "
                "name one with --metadata '{\"prompt_column\": \"...\"}'")
    category_col = _find_column(columns, CATEGORY_COLUMNS)
    label_col = _find_column(columns, ("label",))

    out: dict[str, list[str]] = {"prompt": [], "category": []}
    if label_col:
        out["label"] = []
    for number, row in enumerate(rows, start=1):
        prompt = row.get(prompt_col)
        if not isinstance(prompt, str) or not prompt.strip():
            raise PromptDataError(
                f"{where}: row {number} has no prompt in column {prompt_col!r} "
                f"(got {prompt!r}; rows count from 1, after any header)")
        if any(col in row and str(row[col]) != value for col, value in keep.items()):
            continue
        out["prompt"].append(prompt.strip())
        out["category"].append(str(row.get(category_col) or NO_CATEGORY) if category_col
                               else NO_CATEGORY)
        if label_col:
            out["label"].append(str(row.get(label_col, "")))
    if not out["prompt"]:
        raise PromptDataError(f"{where}: no rows left after keeping only "
                              + ", ".join(f"{c} == {v!r}" for c, v in keep.items()))
    return datasets.Dataset.from_dict(out)
