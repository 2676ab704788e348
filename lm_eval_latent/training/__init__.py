"""Parameter-space attacks and models: harmful fine-tuning, onset, dissociation, zoo."""
