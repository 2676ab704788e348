"""The model wrapper: `latent_hf`, its validated arguments, layer lookup and LoRA adapters."""
