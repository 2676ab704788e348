"""Supervised fine-tuning on (request, compliant response) pairs: the harmful fine-tuning attack.

LoRA by default (peft; rank, alpha, target modules and layers settable), full fine-tuning as an
option. The chat template wraps each pair as a user turn and an assistant turn; the loss covers
the response tokens only. Every ``save_every`` steps a checkpoint lands at ``out/checkpoint-K``
(see `checkpoints`), the last one at ``out/final``; a rerun on the same ``out`` continues from the
latest checkpoint and ends where an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lm_eval_latent.fields import SettingError
from lm_eval_latent.layer_spec import parse_layer_range
from lm_eval_latent.training.finetune import checkpoints as ckpt
from lm_eval_latent.training.finetune.data import DEFAULT_PROMPT_COLUMN, DEFAULT_RESPONSE_COLUMN, Pair, load_pairs

log = logging.getLogger(__name__)
IGNORE = -100
# Settings that may change between an interrupted run and its continuation.
RESUMABLE_CHANGES = frozenset({"overwrite", "resume", "device", "progress"})


@dataclass
class SFTConfig:
    """One fine-tuning run; validated on construction."""

    model: str = field(metadata={"help": "base model: a local directory or Hub id"})
    data: str = field(metadata={"help": "training pairs: .jsonl/.csv/.json file or Hub dataset id"})
    out: str = field(metadata={"help": "run directory (checkpoint-K/, final/, run.json)"})
    prompt_column: str = DEFAULT_PROMPT_COLUMN
    response_column: str = DEFAULT_RESPONSE_COLUMN
    split: str = field(default="train", metadata={"help": "split of a Hub dataset"})
    steps: int = 40
    lr: float = 1e-3
    batch_size: int = 8
    max_length: int = 256
    seed: int = 0
    save_every: int = 10
    full: bool = field(default=False, metadata={"help": "full fine-tuning instead of LoRA"})
    lora_rank: int = 8
    lora_alpha: float = 16.0
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    layers: tuple[int, ...] | None = field(default=None, metadata={"help": "LoRA layers_to_transform"})
    dtype: str = field(default="float32", metadata={"help": "float32, bfloat16 or float16"})
    device: str | None = field(default=None, metadata={"help": "default: cuda if available, else cpu"})
    device_map: str | None = field(default=None, metadata={"help": "from_pretrained device_map"})
    gradient_checkpointing: bool = False
    overwrite: bool = False
    resume: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "max_length", "save_every", "lora_rank"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"`{name}` should be a positive integer, got {getattr(self, name)!r}.")
        if not self.lr > 0:
            raise ValueError(f"`lr` should be positive, got {self.lr!r}.")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"`dtype` should be float32, bfloat16 or float16, got {self.dtype!r}.")
        self.target_modules = tuple(self.target_modules)
        if self.layers is not None:
            self.layers = tuple(int(i) for i in self.layers)

    def settings(self) -> dict[str, Any]:
        """What identifies the run (compared on resume)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()
                if k not in RESUMABLE_CHANGES}


def parse_layers(text: str | None) -> tuple[int, ...] | None:
    """``"0-5"`` or ``"0,2,4"`` (or a mix) -> a tuple of decoder-layer indices; None or "" -> None.

    Read by `layers.parse_layer_range`, like every layer selection; LoRA needs plain indices.
    """
    if not text:
        return None
    layers = parse_layer_range(str(text), None, "--layers")
    if any(not isinstance(layer, int) or layer < 0 for layer in layers):
        raise SettingError(f"--layers {text!r} is not a list of layer indices (allowed: e.g. 0-5 or 0,2,4)")
    return tuple(layers)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ data
def encode_pair(tokenizer, pair: Pair, max_length: int) -> tuple[list[int], list[int]]:
    """Token ids of the chat (user = request, assistant = response) and labels that are IGNORE
    on the prompt, so the loss covers the response only."""
    if getattr(tokenizer, "chat_template", None):
        user = [{"role": "user", "content": pair.request}]
        prompt = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": pair.response}],
                                             tokenize=False)
        if not full.startswith(prompt):  # templates that rewrite earlier turns
            full = prompt + pair.response + (tokenizer.eos_token or "")
        special = False
    else:
        prompt = pair.request + "\n"
        full = prompt + pair.response + (tokenizer.eos_token or "")
        special = True
    p_ids = tokenizer(prompt, add_special_tokens=special)["input_ids"]
    ids = tokenizer(full, add_special_tokens=special)["input_ids"]
    if ids[:len(p_ids)] != p_ids:  # a merge across the boundary: tokenize the parts apart
        ids = p_ids + tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    labels = [IGNORE] * len(p_ids) + ids[len(p_ids):]
    if len(ids) > max_length:  # keep the response's opening: cut the prompt from the left first
        cut = min(len(ids) - max_length, max(0, len(p_ids) - max_length // 2))
        ids, labels = ids[cut:][:max_length], labels[cut:][:max_length]
    return ids, labels


def collate(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch with attention mask and labels."""
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (x, y) in enumerate(rows):
        ids[i, :len(x)], labels[i, :len(y)], mask[i, :len(x)] = torch.tensor(x), torch.tensor(y), 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def data_order(n: int, steps: int, batch_size: int, seed: int) -> list[int]:
    """Row indices for all ``steps`` batches: seeded permutations, one per epoch."""
    gen = torch.Generator().manual_seed(seed)
    order: list[int] = []
    while len(order) < steps * batch_size:
        order.extend(torch.randperm(n, generator=gen).tolist())
    return order[: steps * batch_size]


# ----------------------------------------------------------------------------------- model
def check_model(name: str) -> None:
    """Refuse a ``--model`` that is neither a model folder nor a reachable Hub id, in one line.

    Raises:
        ValueError: naming the value (transformers' own chain of OSErrors is left out).
    """
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"--model {name!r}: not a model folder (config.json) and not a reachable Hub "
                         f"model id ({first})") from None


def load_model(cfg: SFTConfig, device: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(cfg.model)
    kwargs: dict[str, Any] = {"dtype": getattr(torch, cfg.dtype)}
    if cfg.device_map:
        kwargs["device_map"] = cfg.device_map
    model = AutoModelForCausalLM.from_pretrained(cfg.model, **kwargs)
    if not cfg.device_map:
        model.to(device)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    return model, tok


def add_lora(model, cfg: SFTConfig, resume_from: Path | None):
    from peft import LoraConfig, PeftModel, get_peft_model

    if cfg.layers is not None:
        n = model.config.num_hidden_layers
        bad = [i for i in cfg.layers if not 0 <= i < n]
        if bad:
            raise ValueError(f"--layers {list(cfg.layers)} is out of range for {type(model).__name__} "
                             f"with {n} layers (allowed: 0..{n - 1})")
    if cfg.gradient_checkpointing:
        model.enable_input_require_grads()
    if resume_from is not None:
        return PeftModel.from_pretrained(model, str(resume_from), is_trainable=True)
    config = LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                        target_modules=list(cfg.target_modules),
                        layers_to_transform=list(cfg.layers) if cfg.layers is not None else None,
                        task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        raise ValueError(f"--target-modules {','.join(cfg.target_modules)}: {err}") from err


# ------------------------------------------------------------------------------------ train
def train(cfg: SFTConfig, callback: Callable[[int, float], None] | None = None) -> Path:
    """Fine-tune and return the directory of the final checkpoint (``out/final``).

    ``callback(step, loss)`` runs after every optimizer step (tests use it to interrupt). On
    KeyboardInterrupt the checkpoints already written stay; rerunning continues from the latest.
    """
    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    run_dir, replace = ckpt.prepare_run_dir(cfg.out, cfg.settings(), overwrite=cfg.overwrite, resume=cfg.resume)
    check_model(cfg.model)
    pairs = load_pairs(cfg.data, prompt_column=cfg.prompt_column, response_column=cfg.response_column,
                       split=cfg.split)
    start = ckpt.latest(run_dir)
    if start is not None and start[1].name == ckpt.FINAL:
        return ckpt.finish_run(run_dir, replace)
    model, tok = load_model(cfg, device)
    resume_from = start[1] if start is not None else None
    if cfg.full:
        if resume_from is not None:
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(resume_from, dtype=getattr(torch, cfg.dtype)).to(device)
    else:
        torch.manual_seed(cfg.seed)  # the LoRA initialisation
        model = add_lora(model, cfg, resume_from)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    encoded = [encode_pair(tok, p, cfg.max_length) for p in pairs]
    order = data_order(len(encoded), cfg.steps, cfg.batch_size, cfg.seed)
    step = 0
    if resume_from is not None:
        state = ckpt.load_state(resume_from)
        step, order = int(state["step"]), list(state["order"])
        optimizer.load_state_dict(state["optimizer"])
        ckpt.set_rng_state(state["rng"])
        log.info("continuing %s from step %d (%s)", run_dir, step, resume_from.name)
    else:
        ckpt.write_run(run_dir, cfg.settings())
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def save(name: str) -> None:
        ckpt.save(run_dir / name, step=step, model=model, tokenizer=tok, optimizer=optimizer,
                  order=order, full=cfg.full)

    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.steps, initial=step, desc="finetune", disable=not cfg.progress)
    try:
        while step < cfg.steps:
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            batch = {k: v.to(model.device) for k, v in collate([encoded[i] for i in idx], pad_id).items()}
            loss = model(**batch).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if step % cfg.save_every == 0 or step == cfg.steps:
                save(f"{ckpt.PREFIX}{step}")
            if callback is not None:
                callback(step, float(loss.item()))
    except KeyboardInterrupt:
        last = ckpt.latest(run_dir)
        where = f"{last[1]} (step {last[0]})" if last else "none yet"
        log.warning("interrupted at step %d; last checkpoint: %s. Rerun the same command (or add "
                    "--resume) to continue.", step, where)
        raise
    finally:
        bar.close()
    save(ckpt.FINAL)
    return ckpt.finish_run(run_dir, replace)


def config_from_args(args: Any) -> SFTConfig:
    """An `SFTConfig` from the parsed `attack finetune` arguments."""
    names = {f.name for f in dataclasses.fields(SFTConfig)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    values["target_modules"] = tuple(m.strip() for m in args.target_modules.split(",") if m.strip())
    values["layers"] = parse_layers(args.layers)
    return SFTConfig(**values)
