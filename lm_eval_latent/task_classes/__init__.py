"""lm-eval task classes, the request protocol between task and model, and prompt data."""
