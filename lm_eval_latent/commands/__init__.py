"""The `lm-eval-latent` subcommands."""
