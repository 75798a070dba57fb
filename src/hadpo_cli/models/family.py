"""The small interface between the trainer/evaluators and one model family.

Everything that knows how a given vision-language model lays out its inputs lives behind
this interface (InstructBLIP now; LLaVA-1.5 can be added as a second implementation
without touching the trainer or the evaluators).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class VLMFamily(ABC):
    """How one model family turns (images, prompt, answer) into language-model inputs."""

    name: str

    def __init__(self, model: Any, processor: Any):
        self.model = model
        self.processor = processor

    # -- modules -------------------------------------------------------------------------------
    @abstractmethod
    def language_model(self, model: Any | None = None) -> Any:
        """The causal LM inside the VLM (the one LoRA adapts)."""

    @abstractmethod
    def image_modules(self, model: Any | None = None) -> list[Any]:
        """The frozen modules that turn an image into language-model embeddings."""

    @abstractmethod
    def language_model_prefix(self) -> str:
        """Dotted path of the language model inside the VLM, for LoRA target regexes."""

    def lora_target_regex(self, targets: list[str] | tuple[str, ...]) -> str:
        """A peft ``target_modules`` regex matching only the language model's projections."""
        names = "|".join(targets)
        return rf".*{self.language_model_prefix()}\..*\.({names})$"

    # -- inputs --------------------------------------------------------------------------------
    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    @abstractmethod
    def pixel_values(self, images: list[Any]) -> Any:
        """Pixel tensor batch for PIL images (or stacked, for tensors from this same method)."""

    @abstractmethod
    def image_inputs(self, images: list[Any], prompts: list[str]) -> dict[str, Any]:
        """Tensors the image encoder needs (pixels, and for InstructBLIP the Q-Former prompt)."""

    @abstractmethod
    def image_embeddings(self, image_inputs: dict[str, Any], model: Any | None = None) -> Any:
        """[batch, n_image_tokens, lm_hidden]: the image part of the language model's input."""

    @abstractmethod
    def prompt_ids(self, prompt: str) -> list[int]:
        """Token ids that follow the image tokens: BOS and the prompt."""

    def answer_ids(self, answer: str) -> list[int]:
        """Token ids of the answer, then EOS (the only tokens that count in log-probs)."""
        ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"]
        return list(ids) + [self.tokenizer.eos_token_id]

    @abstractmethod
    def generation_inputs(self, images: list[Any], prompts: list[str]) -> dict[str, Any]:
        """A left-padded batch ready for ``model.generate``."""
