"""Discovery by lm-eval and the `lm-eval-latent` command."""
