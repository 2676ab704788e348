"""Harmful fine-tuning, the parameter-space attack: the pairs (`data`), supervised fine-tuning
(`sft`), checkpoints and run folders (`checkpoints`) and the onset (`onset`).

Its command, `lm-eval-latent attack make-data / finetune / onset`, is `lm_eval_latent.commands.attack`.
See docs/finetune.md and docs/onset.md.
"""
