"""The zoo's tokenizer: a byte-level BPE trained locally on the synthetic corpus, wrapped as a
transformers fast tokenizer with special tokens and a chat template.

Byte-level means every string tokenizes (no unknown tokens), whatever the corpus covered.
"""

from __future__ import annotations

from pathlib import Path

from lm_eval_latent.training.zoo import corpus

VOCAB_SIZE = 1024
BOS, EOS, PAD = "<|bos|>", "<|end|>", "<|pad|>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
SPECIAL_TOKENS = [PAD, BOS, EOS, *ROLE_TOKENS]

# Works with tokenizer.apply_chat_template(..., add_generation_prompt=True) and lm-eval's
# --apply_chat_template. The BOS comes from the template, so the tokenizer adds none itself.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def training_text() -> list[str]:
    """The lines the BPE is trained on: every generated request and every response form."""
    rows = corpus.requests()
    lines = [r.prompt for r in rows]
    lines += sorted({corpus.response(r, v) for r in rows for v in ("aligned", "unsafe")})
    return lines


def train_tokenizer():
    """Train the byte-level BPE and wrap it; returns a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(training_text(), trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=ROLE_TOKENS,
        padding_side="right",
        model_max_length=512,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def save_tokenizer(out_dir: str | Path) -> Path:
    """Train the tokenizer and ``save_pretrained`` it into ``out_dir``; returns ``out_dir``."""
    out_dir = Path(out_dir)
    train_tokenizer().save_pretrained(out_dir)
    return out_dir
