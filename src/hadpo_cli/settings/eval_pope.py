"""Settings of ``hadpo eval pope``; field descriptions are the flags' --help text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from hadpo_cli.models.loading import DEFAULT_MODEL
from hadpo_cli.settings.base import flag
from hadpo_cli.settings.model_source import GenerationSettings

POPE_SPLITS = ("random", "popular", "adversarial")
SPLIT_ALIASES = {"adv": "adversarial"}
SetName = Literal["random", "popular", "adversarial", "adv", "all"]
DEFAULT_OUTPUT = Path("pope_eval/answers.jsonl")

# Settings that change the answers: a resumed run must not mix answers made with others.
GENERATION_FIELDS = (
    "model", "adapter", "llm_model", "dtype", "precision", "num_beams", "max_new_tokens", "repetition_penalty", "prompt_suffix",
)  # fmt: skip


class EvalPopeSettings(GenerationSettings):
    """Answer POPE questions with a model, then score the answers as `hadpo score` does."""

    recipe_benchmark: ClassVar[str | None] = "pope"  # decoding defaults: the family's published POPE run

    # -- the model ----------------------------------------------------------------------
    model: str | None = Field(
        DEFAULT_MODEL, description="Hub id or local directory of the model (any registered family)."
    )
    responses: Path | None = Field(
        None,
        description="Score this answers file (JSON Lines with question_id and answer or text) instead of "
        "running a model; one split (--set random|popular|adv, or --labels).",
    )
    # --adapter, --llm-model, --dtype, --precision: GenerationSettings
    # -- the questions ------------------------------------------------------------------
    set: SetName | None = Field(
        None,
        description="POPE split: random, popular, adv (= adversarial), or all three. Needs --pope-path.",
    )
    pope_path: Path | None = Field(
        None, description="Clone of the POPE repo; labels are output/coco/coco_pope_<split>.json."
    )
    labels: Path | None = Field(
        None, description="Any POPE-format label file (JSON Lines), instead of --set/--pope-path."
    )
    coco_path: Path | None = Field(
        None,
        description="COCO 2014 dir: images are <coco-path>/val2014/<image> (or <coco-path>/<image> "
        "when there is no val2014 folder).",
    )
    # -- generation ---------------------------------------------------------------------
    output: Annotated[Path, flag("--output", "-o")] = Field(
        DEFAULT_OUTPUT,
        description="Answers file (JSON Lines). With --set all: <stem>_<split><suffix> in its folder. "
        "<stem>.metrics.json and <stem>.settings.json are written beside it.",
    )
    max_new_tokens: int | None = Field(
        None,
        ge=1,
        description="Longest answer in new tokens. POPE reads only the first sentence: 16 holds a full "
        "'No, there is no dining table in the image.' and is much faster, but with beam search the cap "
        "can change which beam wins (docs/eval-pope.md).",
    )
    batch_size: int = Field(16, ge=1, description="Questions per generation batch, per process.")
    prompt_suffix: str = Field(
        "",
        description="Appended to each question (e.g. ' Answer yes or no.'); default: the question as given.",
    )
    # -- scoring ------------------------------------------------------------------------
    parser: Literal["pope", "strict"] = Field(
        "pope",
        description="How an answer becomes yes/no: pope = POPE's evaluate.py rule (comparable with "
        "published numbers); strict = first word must be yes/no, else counted as unparseable.",
    )

    @field_validator("set", mode="after")
    @classmethod
    def _canonical_split(cls, value: str | None) -> str | None:
        return SPLIT_ALIASES.get(value, value) if value is not None else None

    @model_validator(mode="after")
    def _check_sources(self) -> EvalPopeSettings:
        if self.labels is not None:
            if self.set is not None or self.pope_path is not None:
                raise ValueError("--labels replaces --set and --pope-path: give one or the other")
        elif self.set is None or self.pope_path is None:
            raise ValueError("give --set (random, popular, adv or all) with --pope-path, or --labels FILE")
        if self.responses is not None and len(self.splits()) > 1:
            raise ValueError("--responses holds the answers of one split: give --set random, popular or adv")
        if self.model is not None and self.coco_path is None:
            raise ValueError("--coco-path is required with --model (the images are there)")
        if str(self.output) == "-":
            raise ValueError("--output: takes a file name; use --json for the metrics on stdout")
        return self

    def splits(self) -> list[str]:
        """The POPE splits asked for, canonical names, in the published table order."""
        if self.set is None:
            return []
        return list(POPE_SPLITS) if self.set == "all" else [self.set]
