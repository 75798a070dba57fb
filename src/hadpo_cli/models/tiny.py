"""Offline pieces of the tiny random models: tokenizers trained in code (no Hub) and id wiring.

Each family builds its own tiny model from these (``VLMFamily.build_tiny``); tests and
``hadpo demo`` save it in the standard ``save_pretrained`` layout, so the real loading path
(``from_pretrained`` on a directory) is what gets exercised.
"""

from __future__ import annotations

from typing import Any

# Words the tiny tokenizers learn from; anything else still encodes (byte-level BPE).
_CORPUS = """
Is there a red circle in the image? Is there a blue square in the image? Is there a green triangle?
Is there a yellow star in the image? Is there a purple circle? Is there an orange square? Is there a dog?
Yes, there is a red circle in the image. No, there is no blue square in the image.
Yes. No. yes no not There is not a dog. The image shows a red circle and a blue square on a white background.
Describe this image in detail. Provide a detailed description of the given image.
Give an elaborate explanation of the image you see. Share a comprehensive rundown of the presented image.
The picture contains a green triangle next to a yellow star. A cat sits on a table near a person.
There are two shapes: a circle at the top left and a square at the bottom right of the picture.
"""


def _corpus() -> list[str]:
    """The lines the tokenizers learn from: the sentences above, LLaVA's two system prompts, and the
    demo's toy-world sentences, so that a prompt and its answer are a few dozen tokens, not a few
    hundred (the demo trains its base model on them)."""
    from hadpo_cli.data import toy_world
    from hadpo_cli.models.families.llava import EVAL_SYSTEM, TRAIN_SYSTEM

    world = [
        f"{toy_world.question(k.name)} {toy_world.yes_answer(k.name)} {toy_world.no_answer(k.name)} "
        f"There is {toy_world.a(k.name)} on the left. There is also {toy_world.a(k.name)} next to the {k.name}."
        for k in toy_world.KINDS
    ]
    world += [
        "The image shows a person, a bicycle and a car on a plain grey background. This picture has two objects.",
        "There is a cup in the middle. The background is plain grey. Nothing else is in the picture.",
        "The image contains three objects. There is a dog on the right. USER: ASSISTANT:",
    ]
    lines = [line for line in _CORPUS.splitlines() if line.strip()]
    return [*lines, TRAIN_SYSTEM, EVAL_SYSTEM, *world]


def _train_bpe(vocab_size: int, special: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus() * 4, trainer=trainer)
    return tok


def build_tiny_tokenizers():
    """(LLM tokenizer, Q-Former tokenizer), both fast tokenizers built from code.

    The LLM one adds BOS like Llama's; the Q-Former one wraps text in [CLS] ... [SEP] like BERT's.
    """
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    llm = _train_bpe(600, ["<unk>", "<s>", "</s>", "<pad>"])
    bos = llm.token_to_id("<s>")
    llm.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    llm_tok = PreTrainedTokenizerFast(
        tokenizer_object=llm,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        padding_side="left",
    )

    qf = _train_bpe(300, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    qf.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", qf.token_to_id("[CLS]")), ("[SEP]", qf.token_to_id("[SEP]"))],
    )
    qf_tok = PreTrainedTokenizerFast(
        tokenizer_object=qf,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    return llm_tok, qf_tok


def use_tokenizer_ids(model: Any, tokenizer: Any) -> None:
    """Point the model at the tokenizer's <image>, BOS, EOS and pad ids (config and generation)."""
    model.config.image_token_index = tokenizer.convert_tokens_to_ids("<image>")
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(model.config.text_config, name, getattr(tokenizer, name))
        setattr(model.generation_config, name, getattr(tokenizer, name))
