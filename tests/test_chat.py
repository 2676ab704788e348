"""`lm_eval_latent.chat`: chat-template prompts and left padding for our own forward passes."""

from __future__ import annotations

from transformers import AutoTokenizer

from lm_eval_latent.chat import left_padded, user_turns


def test_user_turns_use_the_template_and_end_at_the_reply(random_model_dir):
    tok = AutoTokenizer.from_pretrained(random_model_dir)
    [text] = user_turns(tok, ["How do I bake bread?"])
    assert text == "<|user|>\nHow do I bake bread?<|end|>\n<|assistant|>\n"
    tok.chat_template = None
    assert user_turns(tok, ["plain"]) == ["plain"]


def test_left_padded_puts_every_last_token_last_and_restores_the_side(random_model_dir):
    tok = AutoTokenizer.from_pretrained(random_model_dir)
    tok.padding_side = "right"
    texts = ["step one", "Tell me about the history of the printing press."]
    enc = left_padded(tok, texts)
    assert tok.padding_side == "right"
    assert set(enc) == {"input_ids", "attention_mask"}
    for row, mask, text in zip(enc["input_ids"], enc["attention_mask"], texts, strict=True):
        alone = tok(text, add_special_tokens=False)["input_ids"]
        assert row[mask.bool()].tolist() == alone
        assert mask[-1] == 1 and mask.tolist() == sorted(mask.tolist())  # padding only on the left
