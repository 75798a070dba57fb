"""HA-DPO preference pairs: the 2:1 mix, the seeded draws, and every error a user can cause."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from hadpo_cli.data.images import load_image
from hadpo_cli.data.preference import DESC_PROMPTS, PreferencePair, load_preference_pairs
from hadpo_cli.errors import UserError


def write_vg(root: Path, ids: list[int], *, with_files: bool = True) -> Path:
    vg = root / "vg"
    (vg / "VG_100K").mkdir(parents=True)
    index = [
        {"image_id": i, "url": f"https://x.invalid/VG_100K/{i}.jpg", "width": 8, "height": 8} for i in ids
    ]
    (vg / "image_data.json").write_text(json.dumps(index))
    if with_files:
        Image.new("RGB", (8, 8), (90, 120, 30)).save(vg / "VG_100K" / "template.jpg")
        picture = (vg / "VG_100K" / "template.jpg").read_bytes()
        for i in ids:
            (vg / "VG_100K" / f"{i}.jpg").write_bytes(picture)  # read as headers only, up front
    return vg


def pope_item(image_id: int, correct: bool = False) -> dict:
    return {
        "image_id": image_id,
        "question": f"Is there a cat in image {image_id}?",
        "chosen": "No, there is no cat.",
        "rejected": "Yes, there is a cat.",
        "correct": correct,
    }


def desc_item(image_id: int, n: int = 6) -> dict:
    return {
        "image_id": image_id,
        "chosen": [f"true description {k} of {image_id}" for k in range(n)],
        "rejected": [f"false description {k} of {image_id}" for k in range(n)],
    }


def write(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj))
    return path


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path, Path]:
    vg = write_vg(tmp_path, list(range(1, 11)))
    pope = write(tmp_path / "pope_data.json", [pope_item(i, correct=(i % 3 == 0)) for i in range(1, 11)])
    desc = write(tmp_path / "desc_data.json", [desc_item(i) for i in range(1, 11)])
    return pope, desc, vg


def test_pope_repeated_twice_for_a_two_to_one_mix_and_correct_items_skipped(data):
    pope, desc, vg = data
    pairs = load_preference_pairs(pope, desc, vg)
    pope_pairs = [p for p in pairs if p.source == "pope"]
    desc_pairs = [p for p in pairs if p.source == "desc"]
    assert len(desc_pairs) == 10
    assert len(pope_pairs) == 2 * 7  # ids 3, 6, 9 are correct=true
    assert not {3, 6, 9} & {p.image_id for p in pope_pairs}
    assert len(pope_pairs) / 2 == len({(p.image_id, p.prompt) for p in pope_pairs})
    assert all(isinstance(p, PreferencePair) for p in pairs)
    assert pope_pairs[0].prompt == "Is there a cat in image 1?"
    assert pope_pairs[0].image_path == vg / "VG_100K" / "1.jpg"


def test_pope_repeat_is_adjustable_and_either_file_alone_is_enough(data):
    pope, desc, vg = data
    assert len(load_preference_pairs(pope, None, vg, pope_repeat=1)) == 7
    only_desc = load_preference_pairs(None, desc, vg)
    assert len(only_desc) == 10 and {p.source for p in only_desc} == {"desc"}


def test_desc_draws_come_from_the_item_lists_and_the_four_prompts(data):
    pope, desc, vg = data
    for p in load_preference_pairs(None, desc, vg):
        assert p.prompt in DESC_PROMPTS
        assert p.chosen.startswith("true description") and p.chosen.endswith(f"of {p.image_id}")
        assert p.rejected.startswith("false description") and p.rejected.endswith(f"of {p.image_id}")
    assert len(DESC_PROMPTS) == 4


def test_same_seed_same_draws_other_seed_other_draws(data):
    pope, desc, vg = data
    first = load_preference_pairs(pope, desc, vg, seed=7)
    assert first == load_preference_pairs(pope, desc, vg, seed=7)
    assert first != load_preference_pairs(pope, desc, vg, seed=8)


def test_draws_are_the_same_in_another_process(data):
    # Guards against anything hash-seeded (sets of strings) slipping into the draw order.
    _, desc, vg = data
    code = (
        "import sys, json\nfrom pathlib import Path\n"
        "from hadpo_cli.data.preference import load_preference_pairs\n"
        "pairs = load_preference_pairs(None, Path(sys.argv[1]), Path(sys.argv[2]), seed=3)\n"
        "print(json.dumps([[p.prompt, p.chosen, p.rejected] for p in pairs]))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code, str(desc), str(vg)], capture_output=True, text=True, check=True
        )
        for _ in range(2)
    ]
    here = [[p.prompt, p.chosen, p.rejected] for p in load_preference_pairs(None, desc, vg, seed=3)]
    assert json.loads(runs[0].stdout) == json.loads(runs[1].stdout) == here


def test_line_breaks_are_deleted_as_the_release_does_or_collapsed_on_request(tmp_path):
    vg = write_vg(tmp_path, [1])
    item = {"image_id": 1, "chosen": ["A cat.\nOn a mat. "], "rejected": ["A dog.\n\nOn  a mat."]}
    path = write(tmp_path / "d.json", [item])
    (release,) = load_preference_pairs(None, path, vg)
    assert (release.chosen, release.rejected) == ("A cat.On a mat. ", "A dog.On  a mat.")
    (collapsed,) = load_preference_pairs(None, path, vg, desc_whitespace="collapse")
    assert (collapsed.chosen, collapsed.rejected) == ("A cat. On a mat.", "A dog. On a mat.")
    (kept,) = load_preference_pairs(None, path, vg, desc_whitespace="keep")
    assert (kept.chosen, kept.rejected) == ("A cat.\nOn a mat. ", "A dog.\n\nOn  a mat.")


def test_pope_answers_are_not_touched_by_the_whitespace_rule(tmp_path):
    vg = write_vg(tmp_path, [1])
    item = {**pope_item(1), "chosen": "No,\nthere is none."}
    (pair,) = load_preference_pairs(write(tmp_path / "p.json", [item]), None, vg, pope_repeat=1)
    assert pair.chosen == "No,\nthere is none."


def _uneven_desc_items(n: int) -> list[dict]:
    # Option lists of different lengths, so one draw too many or too few shifts what follows.
    return [
        {
            "image_id": i,
            "chosen": [f"c{i}.{k}" for k in range(2 + i % 5)],
            "rejected": [f"r{i}.{k}" for k in range(3 + i % 4)],
        }
        for i in range(1, n + 1)
    ]


def _release_draws(items: list[dict], seed: int, *, prompt_after_pair: bool = False) -> list[tuple]:
    """What the release's global ``random`` picks: seed once, then per item in file order."""
    saved = random.getstate()
    try:
        random.seed(seed)
        out = []
        for item in items:
            chosen = random.choice(item["chosen"])
            rejected = random.choice(item["rejected"])
            prompt = random.choice(list(DESC_PROMPTS)) if prompt_after_pair else None
            out.append((chosen, rejected, prompt))
        return out
    finally:
        random.setstate(saved)


@pytest.mark.parametrize("seed", [0, 42, 1234])
def test_desc_pairs_are_the_strings_the_release_draws(tmp_path, seed):
    items = _uneven_desc_items(30)
    vg = write_vg(tmp_path, [item["image_id"] for item in items])
    path = write(tmp_path / "d.json", items)
    before = random.getstate()
    pairs = load_preference_pairs(None, path, vg, seed=seed)
    assert random.getstate() == before  # a generator of its own: nothing else's draws move
    expected = _release_draws(items, seed)
    assert [(p.chosen, p.rejected) for p in pairs] == [(c, r) for c, r, _ in expected]


def test_desc_prompts_come_from_their_own_stream_and_vary(tmp_path):
    items = _uneven_desc_items(40)
    vg = write_vg(tmp_path, [item["image_id"] for item in items])
    pairs = load_preference_pairs(None, write(tmp_path / "d.json", items), vg, seed=42)
    prompts = [p.prompt for p in pairs]
    assert set(prompts) <= set(DESC_PROMPTS) and len(set(prompts)) > 1
    # Not the draws that follow the pairs in the pair stream (that would be the shared order).
    assert prompts != [p for _, _, p in _release_draws(items, 42, prompt_after_pair=True)]


def test_shared_prompt_stream_is_the_llava_release_order_on_a_keyed_file(tmp_path):
    items = _uneven_desc_items(25)
    vg = write_vg(tmp_path, [item["image_id"] for item in items])
    # LLaVA's desc_data.json: an object keyed by image id, the values without their id.
    keyed = {str(item["image_id"]): {k: v for k, v in item.items() if k != "image_id"} for item in items}
    path = write(tmp_path / "d.json", keyed)
    pairs = load_preference_pairs(None, path, vg, seed=7, desc_prompt_stream="shared")
    assert [(p.chosen, p.rejected, p.prompt) for p in pairs] == _release_draws(
        items, 7, prompt_after_pair=True
    )
    assert [p.image_id for p in pairs] == [item["image_id"] for item in items]


def test_a_keyed_desc_file_draws_like_the_same_items_as_a_list(tmp_path):
    items = _uneven_desc_items(12)
    vg = write_vg(tmp_path, [item["image_id"] for item in items])
    as_list = load_preference_pairs(None, write(tmp_path / "l.json", items), vg)
    keyed = {str(item["image_id"]): item for item in items}  # values may keep their image_id
    assert load_preference_pairs(None, write(tmp_path / "k.json", keyed), vg) == as_list


def test_reject_is_read_as_rejected_in_both_files(tmp_path):
    vg = write_vg(tmp_path, [1])
    pope = {**pope_item(1)}
    pope["reject"] = pope.pop("rejected")
    desc = desc_item(1)
    desc["reject"] = desc.pop("rejected")
    pairs = load_preference_pairs(write(tmp_path / "p.json", [pope]), write(tmp_path / "d.json", [desc]), vg)
    assert pairs[0].rejected == "Yes, there is a cat."
    assert pairs[-1].source == "desc" and pairs[-1].rejected.startswith("false description")


@pytest.mark.parametrize("kind", ["pope", "desc"])
def test_both_rejected_and_reject_is_refused(tmp_path, kind):
    vg = write_vg(tmp_path, [1, 2])
    items = [pope_item(i) if kind == "pope" else desc_item(i) for i in (1, 2)]
    items[1]["reject"] = items[1]["rejected"]
    path = write(tmp_path / f"{kind}.json", items)
    args = (path, None) if kind == "pope" else (None, path)
    with pytest.raises(UserError) as exc:
        load_preference_pairs(*args, vg)
    assert str(exc.value) == f"{path}: item 1 (image_id 2): has both 'rejected' and 'reject'; keep one"


def test_wrong_type_under_reject_names_that_key(tmp_path):
    vg = write_vg(tmp_path, [1])
    item = desc_item(1)
    del item["rejected"]
    item["reject"] = "one string"
    path = write(tmp_path / "d.json", {"1": item})
    with pytest.raises(UserError) as exc:
        load_preference_pairs(None, path, vg)
    assert str(exc.value).startswith(
        f"{path}: item '1': field 'reject' must be a non-empty list of non-empty strings, got str"
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"12": desc_item(12), "x7": desc_item(7)}, "item 'x7': keys must be image ids (integers)"),
        ({"12": ["not", "an", "object"]}, "item '12': expected a JSON object, got list"),
        ({"12": desc_item(13)}, "item '12': field 'image_id' is 13, not the key's 12"),
        ({"12": {"chosen": ["a"]}}, "item '12': missing field 'rejected' (or 'reject')"),
        ({"12": {"chosen": "a", "rejected": ["b"]}}, "item '12': field 'chosen' must be a non-empty list"),
        ("just text", "expected a JSON list of objects or an object keyed by image id, got str"),
    ],
)
def test_bad_keyed_desc_files_name_the_file_and_the_key(tmp_path, data, expected):
    vg = write_vg(tmp_path, [7, 12, 13])
    path = write(tmp_path / "desc_data.json", data)
    with pytest.raises(UserError) as exc:
        load_preference_pairs(None, path, vg)
    assert str(exc.value).startswith(f"{path}: {expected}")


def test_desc_repeat_repeats_the_description_pairs(data):
    pope, desc, vg = data
    once = load_preference_pairs(pope, desc, vg, pope_repeat=1)
    twice = load_preference_pairs(pope, desc, vg, pope_repeat=1, desc_repeat=2)
    pope_once = [p for p in once if p.source == "pope"]
    desc_once = [p for p in once if p.source == "desc"]
    assert len(desc_once) == 10
    assert twice == pope_once + desc_once + desc_once  # the repeats are the same draws
    with pytest.raises(ValueError, match="desc_repeat must be at least 1"):
        load_preference_pairs(pope, desc, vg, desc_repeat=0)


def test_string_image_ids_are_accepted(tmp_path):
    vg = write_vg(tmp_path, [5])
    (pair,) = load_preference_pairs(write(tmp_path / "p.json", [pope_item("5")]), None, vg, pope_repeat=1)  # type: ignore[arg-type]
    assert pair.image_id == 5


def test_neither_file_given(tmp_path):
    with pytest.raises(UserError, match="give --pope-data, --desc-data, or both"):
        load_preference_pairs(None, None, write_vg(tmp_path, [1]))


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        ("question", "pope"),
        ("chosen", "pope"),
        ("rejected", "pope"),
        ("correct", "pope"),
        ("chosen", "desc"),
        ("rejected", "desc"),
    ],
)
def test_missing_field_names_file_item_and_image_id(tmp_path, field, kind):
    vg = write_vg(tmp_path, [1, 2, 3])
    items = [pope_item(i) if kind == "pope" else desc_item(i) for i in (1, 2, 3)]
    del items[1][field]
    path = write(tmp_path / f"{kind}.json", items)
    args = (path, None) if kind == "pope" else (None, path)
    with pytest.raises(UserError) as exc:
        load_preference_pairs(*args, vg)
    missing = "'rejected' (or 'reject')" if field == "rejected" else repr(field)
    assert str(exc.value) == f"{path}: item 1 (image_id 2): missing field {missing}"


def test_missing_image_id(tmp_path):
    item = pope_item(1)
    del item["image_id"]
    path = write(tmp_path / "p.json", [item])
    with pytest.raises(UserError, match=r"p\.json: item 0: missing field 'image_id'"):
        load_preference_pairs(path, None, write_vg(tmp_path, [1]))


@pytest.mark.parametrize(
    ("kind", "field", "value", "expected"),
    [
        ("pope", "correct", "no", "field 'correct' must be true or false, got str 'no'"),
        ("pope", "chosen", ["Yes"], "field 'chosen' must be a non-empty string, got list ['Yes']"),
        ("pope", "image_id", "abc", "field 'image_id' must be an integer, got 'abc'"),
        ("desc", "rejected", "one string", "field 'rejected' must be a non-empty list of non-empty strings"),
        ("desc", "chosen", [], "field 'chosen' must be a non-empty list of non-empty strings, got list []"),
    ],
)
def test_wrong_field_types(tmp_path, kind, field, value, expected):
    vg = write_vg(tmp_path, [1])
    item = pope_item(1) if kind == "pope" else desc_item(1)
    item[field] = value
    path = write(tmp_path / f"{kind}.json", [item])
    args = (path, None) if kind == "pope" else (None, path)
    with pytest.raises(UserError, match="item 0") as exc:
        load_preference_pairs(*args, vg)
    assert expected in str(exc.value)


def test_not_a_list(tmp_path):
    path = write(tmp_path / "p.json", {"image_id": 1})
    with pytest.raises(UserError, match=r"p\.json: expected a JSON list of objects, got dict"):
        load_preference_pairs(path, None, write_vg(tmp_path, [1]))


def test_unresolved_ids_counted_and_first_few_named(tmp_path):
    vg = write_vg(tmp_path, [1, 2])
    pope = write(tmp_path / "pope_data.json", [pope_item(i) for i in [1, 101, 102, 103]])
    desc = write(tmp_path / "desc_data.json", [desc_item(i) for i in [2, 104, 105, 106, 107, 101]])
    with pytest.raises(UserError) as exc:
        load_preference_pairs(pope, desc, vg)
    message = str(exc.value)
    assert message.startswith(f"7 of 9 image ids in {pope}, {desc} are not in {vg / 'image_data.json'}:")
    assert message.endswith("101, 102, 103, 104, 105 (and 2 more)")


def test_skipped_items_need_not_resolve(tmp_path):
    vg = write_vg(tmp_path, [1])
    pope = write(tmp_path / "p.json", [pope_item(1), pope_item(999, correct=True)])
    assert len(load_preference_pairs(pope, None, vg, pope_repeat=1)) == 1


def test_missing_image_files_counted_and_named(tmp_path):
    vg = write_vg(tmp_path, list(range(1, 9)), with_files=False)
    (vg / "VG_100K" / "1.jpg").write_bytes(b"x")
    desc = write(tmp_path / "d.json", [desc_item(i) for i in range(1, 9)])
    with pytest.raises(UserError) as exc:
        load_preference_pairs(None, desc, vg)
    message = str(exc.value)
    assert message.startswith("7 of 8 Visual Genome image files are missing: ")
    assert str(vg / "VG_100K" / "2.jpg") in message
    assert message.endswith("(and 2 more)")


def test_vg_dir_missing(tmp_path):
    desc = write(tmp_path / "d.json", [desc_item(1)])
    with pytest.raises(UserError, match="Visual Genome directory not found"):
        load_preference_pairs(None, desc, tmp_path / "nowhere")


def test_empty_result(tmp_path):
    vg = write_vg(tmp_path, [1])
    pope = write(tmp_path / "p.json", [pope_item(1, correct=True)])
    desc = write(tmp_path / "d.json", [])
    with pytest.raises(UserError) as exc:
        load_preference_pairs(pope, desc, vg)
    assert str(exc.value) == (
        f'no preference pairs to train on: {pope} has no items with "correct": false; {desc} has no items'
    )


def test_data_file_not_found(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        load_preference_pairs(tmp_path / "absent.json", None, write_vg(tmp_path, [1]))


def test_load_image_gives_rgb_and_names_a_corrupt_file(tmp_path):
    from PIL import Image

    good = tmp_path / "good.png"
    Image.new("L", (4, 4), 128).save(good)
    image = load_image(good)
    assert image.mode == "RGB" and image.size == (4, 4)

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    with pytest.raises(UserError, match=rf"{bad}: not an image file"):
        load_image(bad)

    truncated = tmp_path / "truncated.jpg"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(tmp_path / "whole.jpg")
    truncated.write_bytes((tmp_path / "whole.jpg").read_bytes()[:200])
    with pytest.raises(UserError, match=rf"{truncated}: corrupt or unreadable image"):
        load_image(truncated)

    with pytest.raises(UserError, match="image file not found"):
        load_image(tmp_path / "absent.jpg")


def test_empty_and_non_image_files_are_found_up_front(tmp_path):
    vg = write_vg(tmp_path, [1, 2, 3])
    (vg / "VG_100K" / "2.jpg").write_bytes(b"")
    (vg / "VG_100K" / "3.jpg").write_bytes(b"<html>not a picture</html>")
    desc = write(tmp_path / "d.json", [desc_item(i) for i in (1, 2, 3)])
    with pytest.raises(UserError, match=r"^2 of 3 Visual Genome image files are not images") as exc:
        load_preference_pairs(None, desc, vg)
    assert str(vg / "VG_100K" / "2.jpg") in str(exc.value) and "1.jpg" not in str(exc.value)
