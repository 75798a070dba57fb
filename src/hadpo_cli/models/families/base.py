"""The interface between the trainer / evaluators / merger and one model family.

A family owns everything model-specific, so that training, evaluation and merging code
never names a model:

* loading: its transformers model and processor classes (:meth:`load`), and its tiny random
  model for tests and the demo (:meth:`build_tiny`);
* text: how a prompt becomes token ids with the image placeholders where the model expects
  them (:meth:`prompt_ids`, any number of them, anywhere), and how an answer becomes the ids
  that count in the log-probs (:meth:`answer_ids`);
* images: pixels (:meth:`image_inputs`) and language-model input embeddings, once per pair
  (:meth:`image_embeddings`), one row per placeholder (:meth:`image_token_counts`);
* modules: the decoder, the output head and the input embeddings (so log-probs are taken at
  answer positions only), the frozen image modules, where LoRA may go, and the language model
  as a stand-alone causal LM (what ``merge --llm-only`` writes);
* recipes: its published HA-DPO training defaults and evaluation decoding settings.

Contract for the placeholders: every id equal to :attr:`image_token_id` in a row is replaced,
in order, by the rows of that pair's image embeddings; their number must equal
``image_token_counts`` for that image. Nothing else assumes a count or a position.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar


class VLMFamily(ABC):
    """One model family, bound to a loaded model and its processor."""

    # -- identity and recipes (class data: readable without loading anything) ------------------
    name: ClassVar[str]  # the family's short name: --family, docs, settings.json
    model_type: ClassVar[str]  # transformers config.model_type it registers under
    display_name: ClassVar[str]
    order: ClassVar[int] = 100  # listing order (the demo default first)
    default_model: ClassVar[str]  # Hub id of the published base model
    # build_tiny's shape for the demo's base model (models/toy_pretraining.py): small enough to
    # train in seconds on a CPU.
    demo_shape: ClassVar[dict[str, Any]] = {}
    # Whether the image side reads the instruction (InstructBLIP's Q-Former does): image embeddings
    # then depend on the prompt too.
    image_reads_prompt: ClassVar[bool] = False
    # Training defaults of its published HA-DPO recipe: TrainSettings field -> value.
    train_recipe: ClassVar[dict[str, Any]] = {}
    # Decoding as the published evaluation scripts ran it, per benchmark: field -> value.
    eval_recipe: ClassVar[dict[str, dict[str, Any]]] = {}
    # The release's mixed precision (``--precision published``): attribute paths of the modules
    # (or parameters) kept in fp16 and in fp32, run under fp16 autocast; None where the release
    # ran in one dtype, which ``--dtype`` already gives.
    published_precision: ClassVar[dict[str, tuple[str, ...]] | None] = None
    # Top-level submodule names of the VLM, as peft keys spell them: an adapter whose keys start
    # with one of these addresses the whole VLM (models/adapters.py tells layouts apart by them).
    adapter_roots: ClassVar[tuple[str, ...]] = ()

    def __init__(self, model: Any, processor: Any):
        self.model = model
        self.processor = processor

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def load(cls, name: str, *, dtype: Any, placement: dict[str, Any]) -> tuple[Any, Any]:
        """(model, processor) from a Hub id or a directory; transformers errors propagate."""

    def after_load(self) -> None:  # noqa: B027 - optional hook
        """Fix-ups of a freshly loaded checkpoint (e.g. a missing image-token id)."""

    @classmethod
    @abstractmethod
    def build_tiny(cls, seed: int = 0, **shape: Any) -> tuple[Any, Any]:
        """(model, processor): a tiny random model of this family, built offline, in fp32."""

    @classmethod
    def save_tiny(cls, out_dir: str | Path, seed: int = 0, **shape: Any) -> Path:
        """The tiny model and its processor, written with ``save_pretrained``; returns ``out_dir``."""
        out_dir = Path(out_dir)
        model, processor = cls.build_tiny(seed, **shape)
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)
        return out_dir

    # -- modules -------------------------------------------------------------------------------
    def vlm(self, model: Any | None = None) -> Any:
        """The plain VLM (``model``, or ours), a peft wrapper around it removed."""
        return unwrap_peft(model if model is not None else self.model)

    @abstractmethod
    def image_modules(self, model: Any | None = None) -> list[Any]:
        """The frozen modules that turn an image into language-model embeddings."""

    @abstractmethod
    def decoder(self, model: Any | None = None) -> Any:
        """The language model's decoder: ``inputs_embeds`` in, ``last_hidden_state`` out."""

    @abstractmethod
    def output_head(self, model: Any | None = None) -> Any:
        """The language model's output projection (hidden -> vocabulary logits)."""

    def input_embeddings(self, model: Any | None = None) -> Any:
        return self.vlm(model).get_input_embeddings()

    @abstractmethod
    def causal_lm(self, model: Any | None = None) -> Any:
        """The language model as a stand-alone causal LM that shares the VLM's modules."""

    @abstractmethod
    def set_causal_lm(self, lm: Any | None) -> None:
        """Put the causal LM ``lm`` in place of the VLM's language model (None: drop it, to free
        its memory before a replacement loads)."""

    @abstractmethod
    def language_model_prefix(self) -> str:
        """Dotted path of the language model inside the VLM, for LoRA target regexes."""

    def lora_target_regex(self, targets: list[str] | tuple[str, ...]) -> str:
        """A peft ``target_modules`` regex matching only the language model's layers."""
        names = "|".join(targets)
        prefix = self.language_model_prefix().replace(".", r"\.")
        return rf"(.*\.)?{prefix}\..*\.({names})$"

    def image_dtype(self) -> Any:
        return next(self.image_modules()[0].parameters()).dtype

    # -- text ----------------------------------------------------------------------------------
    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    @property
    @abstractmethod
    def image_token_id(self) -> int:
        """The placeholder id that image embeddings replace."""

    @abstractmethod
    def prompt_ids(self, prompt: str, n_image_tokens: int) -> list[int]:
        """Training prompt ids, with ``n_image_tokens`` placeholders where the image goes."""

    def answer_ids(self, answer: str) -> list[int]:
        """Token ids of the answer, then EOS (the only tokens that count in log-probs)."""
        ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"]
        return list(ids) + [self.tokenizer.eos_token_id]

    @abstractmethod
    def eval_prompt_ids(self, question: str, n_image_tokens: int) -> list[int]:
        """Generation prompt ids, in the template the published evaluation used."""

    # -- images --------------------------------------------------------------------------------
    @abstractmethod
    def pixel_values(self, images: list[Any]) -> Any:
        """Pixel tensor batch for PIL images (already-processed tensors are stacked as they are)."""

    def image_inputs(self, images: list[Any], prompts: list[str]) -> dict[str, Any]:
        """Tensors the image side needs, one entry per pair (``prompts``: for families whose
        image encoder reads the instruction)."""
        return {"pixel_values": self.pixel_values(images)}

    @abstractmethod
    def image_embeddings(self, image_inputs: dict[str, Any], model: Any | None = None) -> Any:
        """One [n_i, lm_hidden] tensor per image (a [batch, n, hidden] tensor also qualifies)."""

    @abstractmethod
    def image_token_counts(self, image_inputs: dict[str, Any]) -> list[int]:
        """How many placeholders each image of ``image_inputs`` fills."""

    def nominal_image_tokens(self) -> int | None:
        """Placeholders per image when the count is fixed (for an early length check), else None."""
        return None

    # -- generation ----------------------------------------------------------------------------
    def generation_inputs(self, images: list[Any], prompts: list[str]) -> dict[str, Any]:
        """A batch for ``model.generate``, padded on the left over the whole row.

        The processor would put pads between the image tokens and the text; padding the whole
        row on the left keeps every prompt's last token at the end, so an answer does not
        depend on what else is in its batch.
        """
        inputs = self.image_inputs(images, prompts)
        counts = self.image_token_counts(inputs)
        rows = [self.eval_prompt_ids(p, n) for p, n in zip(prompts, counts, strict=True)]
        inputs.update(left_pad(rows, self.pad_id()))
        return inputs

    def check_tokenizer(self, name: str) -> None:
        """The tokenizer is the model's: it turns a prompt into tokens that are not all unknown,
        and its ids fit the embedding table. A directory without ``tokenizer.json`` loads with a
        two-token stand-in that encodes everything to nothing: training then sits at ln 2 and
        every answer is empty."""
        from hadpo_cli.errors import UserError

        tokenizer = self.tokenizer
        rows = self.input_embeddings().num_embeddings
        ids = list(tokenizer(TOKENIZER_PROBE, add_special_tokens=False)["input_ids"])
        known = [i for i in ids if i != tokenizer.unk_token_id]
        if not known:
            raise UserError(
                f"{name}: the tokenizer ({len(tokenizer)} tokens, for {rows} embedding rows) encodes a "
                "prompt to nothing; are tokenizer.json / tokenizer_config.json missing?"
            )
        if len(tokenizer) > rows:
            raise UserError(
                f"{name}: the tokenizer has {len(tokenizer)} tokens but the model only {rows} embedding rows"
            )

    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.tokenizer.eos_token_id


# Lower case: a word-level tokenizer may know the words only so.
TOKENIZER_PROBE = "is there a dog in the image?"


def left_pad(rows: list[list[int]], pad: int) -> dict[str, Any]:
    import torch

    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        attention[i, width - len(row) :] = 1
    return {"input_ids": input_ids, "attention_mask": attention}


def unwrap_peft(model: Any) -> Any:
    """The plain VLM under a peft wrapper (``PeftModel -> LoraModel -> VLM``), or the model itself."""
    base = getattr(model, "base_model", None)
    if base is not None and hasattr(base, "model") and type(model).__name__.startswith("Peft"):
        return base.model
    return model


def stack_or_keep(images: list[Any], process: Any) -> Any:
    """Already-processed [3, H, W] tensors (from the prefetch threads) are stacked as they are."""
    import torch

    if images and all(isinstance(im, torch.Tensor) for im in images):
        return torch.stack(images)
    return process(images)
