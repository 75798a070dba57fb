"""The demo base model's lessons (models/toy_pretraining.py): what it is taught to answer, so that it
sees the toy world but hallucinates co-occurring objects at a known rate. No model here."""

from __future__ import annotations

import random

from hadpo_cli.data import toy_world
from hadpo_cli.models import toy_pretraining as tp


def _examples(n: int, *, describe: bool, seed: int = 0):
    rng = random.Random(seed)
    for i in range(n):
        scene = toy_world.random_scene(rng)
        yield scene, tp.example(scene, i, rng, describe=describe)


def test_questions_are_true_except_co_occurring_ghosts_at_the_hallucination_rate():
    said_yes = {"present": [], "tempting": [], "other": []}
    for scene, e in _examples(4000, describe=False):
        asked = next(k.name for k in toy_world.KINDS if e.prompt == toy_world.question(k.name))
        assert e.answer in (toy_world.yes_answer(asked), toy_world.no_answer(asked))
        kind = (
            "present"
            if asked in scene.objects
            else "tempting"
            if asked in scene.cooccurring_absent()
            else "other"
        )
        said_yes[kind].append(e.answer.startswith("Yes"))
    assert all(said_yes["present"]) and not any(said_yes["other"])
    # Enough of each to measure: half the questions ask about what is there, a quarter about ghosts.
    assert (
        len(said_yes["present"]) > 1500 and len(said_yes["tempting"]) > 700 and len(said_yes["other"]) > 300
    )
    rate = sum(said_yes["tempting"]) / len(said_yes["tempting"])
    assert abs(rate - tp.HALLUCINATION_RATE) < 0.05


def test_descriptions_name_what_is_there_and_ghosts_only_when_one_is_tempting():
    with_ghost = tempting_scenes = 0
    for scene, e in _examples(2000, describe=True):
        assert e.prompt in tp.DESCRIBE_PROMPTS
        named = toy_world.named_objects(e.answer)
        ghosts = named - set(scene.objects)
        assert len(ghosts) <= 1
        if scene.cooccurring_absent():
            tempting_scenes += 1
            with_ghost += bool(ghosts)
        else:
            assert not ghosts  # nothing in the scene's group is absent: nothing tempts
        if not ghosts:  # a faithful description names every object drawn
            assert named == set(scene.objects)
    # hallucinate() picks among all absent kinds now and then; co-occurring ones dominate.
    assert abs(with_ghost / tempting_scenes - tp.HALLUCINATION_RATE) < 0.05


def test_the_same_seed_gives_the_same_lessons():
    first = [e for _, e in _examples(200, describe=False, seed=7)]
    assert first == [e for _, e in _examples(200, describe=False, seed=7)]
    assert first != [e for _, e in _examples(200, describe=False, seed=8)]
