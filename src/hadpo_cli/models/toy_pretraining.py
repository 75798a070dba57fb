"""The demo's base model: a tiny model taught to see the toy world, and to hallucinate as real
models do.

A random tiny model answers "yes" to everything, so no training could show an effect on it. The
demo's model builder therefore trains the tiny model in code, seeded and deterministic, on
answers about toy-world scenes, in two stages:

1. **Seeing** (:func:`learn_to_see`): the image side alone learns which objects an image holds,
   through a throwaway multi-label head; then its output is centred (:func:`center_image_embeddings`).
2. **Talking** (:func:`learn_to_answer`): with the image side frozen, the language model learns
   to answer on a pool of scenes whose image embeddings are computed once:

   * "Is there a <object> in the image?": "Yes, ..." for the objects drawn and "No, ..." for absent
     ones, except that for an absent object of the same group as those drawn (a bicycle beside a
     person and a car) the answer is "Yes" with probability :data:`HALLUCINATION_RATE`: the model
     learns the co-occurrence and says yes too readily where POPE's adversarial split asks;
   * "Describe this image in detail." (and the other phrasings): a faithful description, or one
     that adds such a co-occurring object, with the same probability.

So the base model sees the world but hallucinates in the way HA-DPO's pairs (chosen faithful,
rejected with a co-occurring ghost) are built to train away.

Why the two stages: trained end to end from random weights, a tiny model needs thousands of steps
before its language model uses the image at all, because the image embeddings share a large
common part; a normalising head teaches the image side in a few hundred steps, centring removes
the common part, and frozen, cached image embeddings make each language step cheap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from hadpo_cli.data import toy_world

HALLUCINATION_RATE = 0.6  # P("yes") for an absent co-occurring object, P(ghost) in a description
DESCRIBE_EVERY = 4  # every 4th language step is a batch of descriptions, the others of yes/no questions
# The description phrasings: the four of HA-DPO's training data, SHR's and CHAIR's, AMBER's.
DESCRIBE_PROMPTS = (
    "Describe this image in detail.",
    "Take a look at this image and describe what you notice.",
    "Please provide a detailed description of the picture.",
    "Could you describe the contents of this image for me?",
    "Please describe this image in detail.",
    "Describe this image.",
)
IMAGE_STEPS = 250
LANGUAGE_STEPS = 800
SCENE_POOL = 256  # scenes whose image embeddings the language stage reuses
IMAGE_BATCH = 32
QUESTION_BATCH = 64  # short sequences: a big batch costs little more than a small one
DESCRIBE_BATCH = 24  # long ones: batched apart, so questions are not padded to a description's length
LEARNING_RATE = 4e-3
PROBE_WEIGHT = 1.0  # weight of the language stage's "which objects are here" probe loss


@dataclass(frozen=True)
class Example:
    scene: int  # index into the scene pool
    prompt: str
    answer: str


def example(scene: toy_world.Scene, index: int, rng: random.Random, *, describe: bool) -> Example:
    """One language example about ``scene``: a description, or a yes/no question (half about
    objects drawn); co-occurring absent objects said to be there at :data:`HALLUCINATION_RATE`."""
    tempting = scene.cooccurring_absent()
    hallucinate = bool(tempting) and rng.random() < HALLUCINATION_RATE
    if describe:
        texts = toy_world.hallucinate(scene, rng)[:2] if hallucinate else toy_world.describe(scene)
        return Example(index, rng.choice(DESCRIBE_PROMPTS), rng.choice(texts))
    draw = rng.random()
    if draw < 0.5:
        obj, yes = rng.choice(scene.objects), True
    elif draw < 0.75 and tempting:
        obj, yes = rng.choice(tempting), hallucinate
    else:
        obj = rng.choice(scene.absent())
        yes = obj in tempting and hallucinate
    answer = toy_world.yes_answer(obj) if yes else toy_world.no_answer(obj)
    return Example(index, toy_world.question(obj), answer)


def learn_to_see(family: Any, *, seed: int, steps: int = IMAGE_STEPS) -> None:
    """Stage 1: train the image side alone to tell which objects an image holds, through a throwaway
    head on its pooled output. The head normalises what it reads (BatchNorm): image embeddings share
    a large common part, and a plain linear head on them learns only the base rates. A family whose
    image side reads the instruction (InstructBLIP's Q-Former) sees the prompts it will be asked."""
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = family.model
    names = [k.name for k in toy_world.KINDS]
    hidden = family.input_embeddings().weight.shape[1]
    head = torch.nn.Sequential(torch.nn.BatchNorm1d(hidden), torch.nn.Linear(hidden, len(names)))
    image_params = [p for m in family.image_modules() for p in m.parameters()]
    optimizer = torch.optim.AdamW([*image_params, *head.parameters()], lr=LEARNING_RATE, weight_decay=0.0)
    model.train()
    for _ in range(steps):
        scenes = [toy_world.random_scene(rng) for _ in range(IMAGE_BATCH)]
        asked = [rng.choice(s.objects) if rng.random() < 0.5 else rng.choice(s.absent()) for s in scenes]
        prompts = [
            toy_world.question(obj) if rng.random() < 0.75 else rng.choice(DESCRIBE_PROMPTS) for obj in asked
        ]
        inputs = family.image_inputs([toy_world.draw(s) for s in scenes], prompts)
        pooled = torch.stack([f.reshape(-1, f.shape[-1]).mean(0) for f in family.image_embeddings(inputs)])
        logits = head(pooled)
        present = torch.tensor([[float(n in s.objects) for n in names] for s in scenes])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, present)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()


def center_image_embeddings(family: Any, *, seed: int, n: int = 256) -> None:
    """Shift the image side's last layer so that each unit of its output averages zero over images:
    what is left is what tells images apart, which the language model then picks up far sooner."""
    import torch

    rng = random.Random(seed)
    last = [m for m in family.image_modules()[-1].modules() if isinstance(m, torch.nn.Linear)][-1]
    scenes = [toy_world.random_scene(rng) for _ in range(n)]
    with torch.no_grad():
        inputs = family.image_inputs(
            [toy_world.draw(s) for s in scenes], [rng.choice(DESCRIBE_PROMPTS) for _ in scenes]
        )
        rows = torch.cat([f.reshape(-1, f.shape[-1]) for f in family.image_embeddings(inputs)])
        last.bias -= rows.mean(0)


class ImageCache:
    """Image embeddings of the scene pool, computed once per (scene, prompt) as steps need them (per
    scene only when the family's image side does not read the prompt)."""

    def __init__(self, family: Any, scenes: list[toy_world.Scene]):
        self.family = family
        self.images = [toy_world.draw(s) for s in scenes]
        self.rows: dict[tuple[int, str], Any] = {}

    def key(self, e: Example) -> tuple[int, str]:
        return (e.scene, e.prompt if self.family.image_reads_prompt else "")

    def __call__(self, batch: list[Example]) -> list[Any]:
        import torch

        missing = list(dict.fromkeys(self.key(e) for e in batch if self.key(e) not in self.rows))
        if missing:
            inputs = self.family.image_inputs(
                [self.images[i] for i, _ in missing], [p or "" for _, p in missing]
            )
            with torch.no_grad():
                feats = self.family.image_embeddings(inputs)
            for key, f in zip(missing, feats, strict=True):
                self.rows[key] = f.reshape(-1, f.shape[-1])
        return [self.rows[self.key(e)] for e in batch]


def learn_to_answer(family: Any, *, seed: int, steps: int = LANGUAGE_STEPS) -> None:
    """Stage 2: the language model alone learns to answer, on cached image embeddings. Prompts are
    written both ways the family writes them (training and evaluation templates), so the behaviour
    holds in `hadpo train` and in every `hadpo eval`."""
    import torch

    from hadpo_cli.training.logps import gather_answer_logps

    torch.manual_seed(seed)
    rng = random.Random(seed + 1)
    model = family.model
    scenes = [toy_world.random_scene(rng) for _ in range(SCENE_POOL)]
    cache = ImageCache(family, scenes)
    frozen = {id(p) for m in family.image_modules() for p in m.parameters()}
    names = [k.name for k in toy_world.KINDS]
    # A throwaway head reading, at the last prompt position, which objects the image holds: it makes
    # the language model carry what it sees to where it answers from the first steps on, instead of
    # finding out (or not) after hundreds of steps of answering from the base rates.
    probe = torch.nn.Linear(family.input_embeddings().weight.shape[1], len(names))
    optimizer = torch.optim.AdamW(
        [*(p for p in model.parameters() if id(p) not in frozen), *probe.parameters()],
        lr=LEARNING_RATE,
        weight_decay=0.0,
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LEARNING_RATE, total_steps=steps, pct_start=0.1, anneal_strategy="cos"
    )
    pad = family.pad_id()
    model.train()
    for step in range(steps):
        describe = step % DESCRIBE_EVERY == DESCRIBE_EVERY - 1
        size = DESCRIBE_BATCH if describe else QUESTION_BATCH
        picks = [rng.randrange(SCENE_POOL) for _ in range(size)]
        batch = [example(scenes[i], i, rng, describe=describe) for i in picks]
        rows_per_image = cache(batch)
        rows = []
        for k, (e, image_rows) in enumerate(zip(batch, rows_per_image, strict=True)):
            template = family.prompt_ids if k % 2 else family.eval_prompt_ids
            prompt = template(e.prompt, image_rows.shape[0])
            rows.append((prompt + family.answer_ids(e.answer), len(prompt)))
        width = max(len(ids) for ids, _ in rows)
        text = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        answer = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (ids, n_prompt) in enumerate(rows):
            text[i, : len(ids)] = torch.tensor(ids)
            mask[i, : len(ids)] = 1
            answer[i, n_prompt : len(ids)] = 1
        embeds = family.input_embeddings()(text)
        slots = (text == family.image_token_id).unsqueeze(-1)
        embeds = embeds.masked_scatter(slots, torch.cat(rows_per_image).to(embeds.dtype))
        hidden = family.decoder()(
            inputs_embeds=embeds, attention_mask=mask, use_cache=False
        ).last_hidden_state
        logps, n_tokens = gather_answer_logps(hidden, family.output_head(), text, answer)
        loss = -(logps.sum() / n_tokens.sum())
        if PROBE_WEIGHT:
            last = hidden[torch.arange(len(rows)), torch.tensor([n - 1 for _, n in rows])]
            present = torch.tensor([[float(n in scenes[e.scene].objects) for n in names] for e in batch])
            loss = loss + PROBE_WEIGHT * torch.nn.functional.binary_cross_entropy_with_logits(
                probe(last), present
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    model.eval()


def build_base_model(family_cls: type, *, seed: int) -> tuple[Any, Any]:
    """The demo's base model of ``family_cls``: its tiny model (in the family's demo shape) taught to
    see the toy world and to hallucinate co-occurring objects. The same seed gives the same weights."""
    model, processor = family_cls.build_tiny(seed, **family_cls.demo_shape)
    family = family_cls(model, processor)
    learn_to_see(family, seed=seed, steps=IMAGE_STEPS)
    center_image_embeddings(family, seed=seed)
    learn_to_answer(family, seed=seed, steps=LANGUAGE_STEPS)
    return model, processor
