"""The demo's base-model builder on the tiny models, a few steps only: seeded and deterministic, its
centring exact, and each stage trains only its own side. (Whether the full schedule yields a model
that sees and hallucinates is test_demo.py's business: it asserts the training effect.)"""

from __future__ import annotations

import random

import pytest

from hadpo_cli.data import toy_world
from hadpo_cli.models import toy_pretraining as tp
from hadpo_cli.models.families import by_name, names

pytestmark = pytest.mark.integration


def _family(name: str):
    cls = by_name(name)
    model, processor = cls.build_tiny(0, **cls.demo_shape)
    return cls(model, processor)


def _image_rows(family, *, seed: int, n: int):
    """The image embeddings of the scenes and prompts center_image_embeddings draws with ``seed``."""
    import torch

    rng = random.Random(seed)
    scenes = [toy_world.random_scene(rng) for _ in range(n)]
    prompts = [rng.choice(tp.DESCRIBE_PROMPTS) for _ in scenes]
    with torch.no_grad():
        feats = family.image_embeddings(family.image_inputs([toy_world.draw(s) for s in scenes], prompts))
    return torch.cat([f.reshape(-1, f.shape[-1]) for f in feats])


@pytest.mark.parametrize("family_name", names())
def test_centring_zeroes_the_image_embeddings_mean(family_name):
    family = _family(family_name)
    before = _image_rows(family, seed=5, n=32).mean(0).abs().max().item()
    tp.center_image_embeddings(family, seed=5, n=32)
    after = _image_rows(family, seed=5, n=32).mean(0).abs().max().item()
    assert after < 1e-4 < before


@pytest.mark.parametrize("family_name", names())
def test_both_sides_learn_and_the_same_seed_gives_the_same_weights(family_name, monkeypatch):
    import torch

    monkeypatch.setattr(tp, "IMAGE_STEPS", 2)
    monkeypatch.setattr(tp, "LANGUAGE_STEPS", 3)
    monkeypatch.setattr(tp, "SCENE_POOL", 8)
    monkeypatch.setattr(tp, "QUESTION_BATCH", 4)
    monkeypatch.setattr(tp, "DESCRIBE_BATCH", 2)
    cls = by_name(family_name)
    random_model, _ = cls.build_tiny(0, **cls.demo_shape)
    first, _ = tp.build_base_model(cls, seed=0)
    second, _ = tp.build_base_model(cls, seed=0)
    a, b, r = first.state_dict(), second.state_dict(), random_model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)

    family = cls(random_model, None)
    image_side = {id(p) for m in family.image_modules() for p in m.parameters()}
    names_by_id = {id(p): n for n, p in random_model.named_parameters()}
    image_names = {names_by_id[i] for i in image_side}
    changed = {k for k in a if k in names_by_id.values() and not torch.equal(a[k], r[k])}
    assert changed & image_names, "the seeing stage left the image side as it was"
    assert changed - image_names, "the answering stage left the language model as it was"
