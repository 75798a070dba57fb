"""Loading vision-language models, LoRA wrapping, and the tiny offline model factory."""
