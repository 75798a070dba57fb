"""hadpo: Hallucination-Aware DPO for vision-language models, as one CLI."""

__version__ = "0.1.0"
