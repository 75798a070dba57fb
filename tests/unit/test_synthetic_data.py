"""The synthetic demo data: public layouts, readable by hadpo's own readers, true about its pixels.

The images are toy-world scenes: each object kind (a COCO category) is one glyph, a shape in a colour.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hadpo_cli.data import toy_world
from hadpo_cli.data.preference import load_preference_pairs
from hadpo_cli.data.synthetic import BACKGROUND_RGB, COLOURS, POPE_SPLITS, DemoPaths, write_demo_data
from hadpo_cli.data.visual_genome import load_vg_images, load_vg_regions
from hadpo_cli.io import read_json, read_jsonl


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoPaths:
    return write_demo_data(tmp_path_factory.mktemp("demo"))


def objects_in(text: str) -> set[str]:
    return toy_world.named_objects(text)


def colour_of(obj: str) -> str:
    return toy_world.BY_NAME[obj].colour


PALETTE = {**COLOURS, "background": BACKGROUND_RGB}
PALETTE_RGB = np.array(list(PALETTE.values()), dtype=np.int32)


def colour_pixels(image: Image.Image, colour: str, box: tuple[int, int, int, int] | None = None) -> int:
    """Pixels nearest to ``colour`` among the palette and the background (inside ``box`` = x, y, w, h).

    Nearest-colour rather than a fixed tolerance, so JPEG blur at an edge is not miscounted.
    """
    if box is not None:
        x, y, w, h = box
        image = image.crop((x, y, x + w, y + h))
    pixels = np.asarray(image.convert("RGB"), dtype=np.int32).reshape(-1, 1, 3)
    distance = np.abs(pixels - PALETTE_RGB[None, :, :]).sum(axis=2)
    nearest = distance.argmin(axis=1)
    close = distance.min(axis=1) < 120
    return int(np.sum(close & (nearest == list(PALETTE).index(colour))))


def drawn_objects(demo: DemoPaths) -> dict[int, set[str]]:
    regions = load_vg_regions(demo.vg)
    return {i: set().union(*(objects_in(r.phrase) for r in rs)) for i, rs in regions.items()}


def test_layout(demo):
    root = demo.root
    expected = [
        "vg/image_data.json",
        "vg/region_descriptions.json",
        "hadpo/pope_data.json",
        "hadpo/desc_data.json",
        *(f"pope/output/coco/coco_pope_{s}.json" for s in ("random", "popular", "adversarial")),
        "shr/val_images_final.json",
        "shr/shr_factual_part1.jsonl",
        "shr/shr_factual_part2.jsonl",
    ]
    for rel in expected:
        assert (root / rel).is_file(), rel
    vg_files = sorted((root / "vg" / "VG_100K").glob("*.jpg"))
    coco_files = sorted((root / "coco2014" / "val2014").glob("*.jpg"))
    assert len(vg_files) == len(coco_files) == 24
    assert all(re.fullmatch(r"COCO_val2014_\d{12}\.jpg", p.name) for p in coco_files)
    assert all(re.fullmatch(r"\d+\.jpg", p.name) for p in vg_files)
    assert demo.pope_labels == {s: root / f"pope/output/coco/coco_pope_{s}.json" for s in POPE_SPLITS}
    assert json.loads(json.dumps(demo.as_dict()))["vg"] == str(root / "vg")


def test_visual_genome_parses_with_the_project_readers(demo):
    images = load_vg_images(demo.vg)
    assert len(images) == 24
    for image_id, entry in images.items():
        assert entry.path == demo.vg / "VG_100K" / f"{image_id}.jpg" and entry.path.is_file()
        with Image.open(entry.path) as im:
            assert im.format == "JPEG" and im.size == (entry.width, entry.height)
    regions = load_vg_regions(demo.vg)
    assert set(regions) == set(images)
    assert all(1 <= len(objects_in(" ".join(r.phrase for r in rs))) <= 3 for rs in regions.values())


def test_training_data_loads_with_some_pope_items_already_correct(demo):
    items = read_json(demo.pope_data)
    flags = [item["correct"] for item in items]
    assert any(flags) and not all(flags)
    pairs = load_preference_pairs(demo.pope_data, demo.desc_data, demo.vg)
    pope = [p for p in pairs if p.source == "pope"]
    desc = [p for p in pairs if p.source == "desc"]
    assert len(pope) == 2 * flags.count(False)
    assert len(desc) == len(read_json(demo.desc_data)) > 0


def test_pope_label_files_are_json_lines_with_balanced_labels(demo):
    coco_names = {p.name for p in demo.coco_images.glob("*.jpg")}
    for split, path in demo.pope_labels.items():
        with pytest.raises(json.JSONDecodeError):
            json.loads(path.read_text())  # many documents, one per line: not one JSON value
        rows = [row for _, row in read_jsonl(path)]
        assert all(set(row) == {"question_id", "image", "text", "label"} for row in rows), split
        assert len({row["question_id"] for row in rows}) == len(rows)
        labels = [row["label"] for row in rows]
        assert labels.count("yes") == labels.count("no") > 0, split
        assert {row["image"] for row in rows} <= coco_names


def test_splits_pick_negatives_differently(demo):
    negatives = {
        split: [row["text"] for _, row in read_jsonl(path) if row["label"] == "no"]
        for split, path in demo.pope_labels.items()
    }
    assert len({tuple(v) for v in negatives.values()}) == 3


def test_shr_files(demo):
    val = read_json(demo.shr_val_images)
    shr_ids = {item["image_id"] for item in val}
    assert shr_ids and shr_ids <= set(load_vg_images(demo.vg))
    facts: dict[str, list[str]] = {}
    for part in demo.shr_factual:
        rows = [row for _, row in read_jsonl(part)]
        assert rows, part
        for row in rows:
            ((key, value),) = row.items()
            assert isinstance(value, list) and all(isinstance(f, str) for f in value)
            facts[key] = value
    assert set(facts) == {str(i) for i in shr_ids}
    # SHR images are held out of training, as in the real data.
    trained = {item["image_id"] for item in read_json(demo.pope_data) + read_json(demo.desc_data)}
    assert not trained & shr_ids


def test_region_boxes_hold_the_colour_they_name(demo):
    images = load_vg_images(demo.vg)
    for image_id, regions in load_vg_regions(demo.vg).items():
        image = Image.open(images[image_id].path).convert("RGB")
        for region in regions:
            for obj in objects_in(region.phrase):
                colour = colour_of(obj)
                box = (int(region.x), int(region.y), int(region.width), int(region.height))
                # A triangle fills half its box, a circle about 3/4.
                assert colour_pixels(image, colour, box) >= 0.35 * region.width * region.height, (
                    image_id,
                    obj,
                )


def test_pope_training_items_tell_the_truth_in_chosen(demo):
    drawn = drawn_objects(demo)
    for item in read_json(demo.pope_data):
        (obj,) = objects_in(item["question"])
        present = obj in drawn[item["image_id"]]
        assert item["chosen"].startswith("Yes" if present else "No"), item
        assert item["rejected"].startswith("No" if present else "Yes"), item


def test_descriptions_chosen_true_rejected_hallucinated_in_the_pixels(demo):
    drawn = drawn_objects(demo)
    images = load_vg_images(demo.vg)
    for item in read_json(demo.desc_data):
        image_id = item["image_id"]
        image = Image.open(images[image_id].path).convert("RGB")
        for text in item["chosen"]:
            mentioned = objects_in(text)
            assert mentioned and mentioned <= drawn[image_id], text
            for obj in mentioned:
                assert colour_pixels(image, colour_of(obj)) > 50, (image_id, obj)
        drawn_colours = {colour_of(o) for o in drawn[image_id]}
        for text in item["rejected"]:
            ghosts = objects_in(text) - drawn[image_id]
            assert ghosts, text
            for obj in ghosts:
                if colour_of(obj) not in drawn_colours:  # else it shares a colour with a drawn glyph
                    assert colour_pixels(image, colour_of(obj)) < 3, (image_id, obj)


def test_pope_yes_questions_show_their_colour_on_the_coco_image(demo):
    for path in demo.pope_labels.values():
        for _, row in read_jsonl(path):
            if row["label"] != "yes":
                continue
            (obj,) = objects_in(row["text"])
            image = Image.open(demo.coco_images / row["image"]).convert("RGB")
            assert colour_pixels(image, colour_of(obj)) > 50, row


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    def snapshot(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    a = snapshot(write_demo_data(tmp_path / "a", n_images=6, seed=1).root)
    b = snapshot(write_demo_data(tmp_path / "b", n_images=6, seed=1).root)
    c = snapshot(write_demo_data(tmp_path / "c", n_images=6, seed=2).root)
    assert a == b
    assert a["hadpo/desc_data.json"] != c["hadpo/desc_data.json"]


def test_refuses_too_few_images(tmp_path):
    with pytest.raises(ValueError, match="at least 4"):
        write_demo_data(tmp_path / "tiny", n_images=3)


def test_every_kind_is_a_coco_category_with_its_own_glyph():
    glyphs = [(k.shape, k.colour) for k in toy_world.KINDS]
    assert len(set(glyphs)) == len(glyphs)
    assert {k.shape for k in toy_world.KINDS} <= set(toy_world.SHAPES)
    assert {g for names in toy_world.GROUPS.values() for g in names} == set(toy_world.BY_NAME)


def test_coco_annotations_agree_with_the_pope_labels(demo):
    instances = read_json(demo.coco_annotations / "instances_val2014.json")
    names = {c["id"]: c["name"] for c in instances["categories"]}
    by_file = {im["id"]: im["file_name"] for im in instances["images"]}
    objects: dict[str, set[str]] = {}
    for ann in instances["annotations"]:
        objects.setdefault(by_file[ann["image_id"]], set()).add(names[ann["category_id"]])
    for _, row in read_jsonl(demo.pope_labels["random"]):
        (obj,) = objects_in(row["text"])
        assert (obj in objects[row["image"]]) == (row["label"] == "yes"), row
    captions = read_json(demo.coco_annotations / "captions_val2014.json")["annotations"]
    for caption in captions:
        assert objects_in(caption["caption"]) <= objects[by_file[caption["image_id"]]], caption


def test_adversarial_negatives_co_occur_with_what_is_there(demo):
    """POPE's adversarial split asks about absent objects of the groups present: the tempting ones."""
    instances = read_json(demo.coco_annotations / "instances_val2014.json")
    names = {c["id"]: c["name"] for c in instances["categories"]}
    by_file = {im["id"]: im["file_name"] for im in instances["images"]}
    objects: dict[str, set[str]] = {}
    for ann in instances["annotations"]:
        objects.setdefault(by_file[ann["image_id"]], set()).add(names[ann["category_id"]])
    same_group = total = 0
    for _, row in read_jsonl(demo.pope_labels["adversarial"]):
        if row["label"] == "no":
            (obj,) = objects_in(row["text"])
            groups = {toy_world.GROUP_OF[o] for o in objects[row["image"]]}
            same_group += toy_world.GROUP_OF[obj] in groups
            total += 1
    assert same_group / total > 0.6
