"""Synthetic data in exactly the public layouts, for `hadpo demo` and the tests.

The images are scenes of the toy world (:mod:`hadpo_cli.data.toy_world`): a few COCO objects,
each drawn as its own glyph, so every question, answer, annotation and description written here
is checkably true or false about the pixels: chosen answers are true, rejected ones hallucinate
an object that is not drawn (mostly one that usually comes with what is there), as in the real
HA-DPO data.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hadpo_cli.data import toy_world as world
from hadpo_cli.data.toy_world import BACKGROUND_RGB, COLOURS, IMAGE_SIZE, Scene, random_scene

__all__ = [
    "BACKGROUND_RGB",
    "COLOURS",
    "IMAGE_SIZE",
    "POPE_SPLITS",
    "DemoPaths",
    "demo_paths",
    "write_demo_data",
]

POPE_SPLITS: tuple[str, ...] = ("random", "popular", "adversarial")
VG_URL = "https://example.invalid/VG_100K/{image_id}.jpg"


@dataclass(frozen=True)
class DemoPaths:
    """Where :func:`write_demo_data` puts each file; the directories are what the flags take."""

    root: Path
    vg: Path  # --vg-path
    vg_image_data: Path
    vg_region_descriptions: Path
    vg_images: Path
    vg_objects: Path  # objects.json, attributes.json, relationships.json: what `hadpo pairs` reads
    vg_attributes: Path
    vg_relationships: Path
    hadpo: Path
    pope_data: Path  # --pope-data
    desc_data: Path  # --desc-data
    pope: Path  # a "clone of the POPE repo"
    pope_labels: dict[str, Path]  # split -> JSON Lines label file
    coco: Path  # the COCO 2014 dir holding val2014/
    coco_images: Path
    coco_annotations: Path  # instances_val2014.json and captions_val2014.json
    shr: Path  # --shr-path
    shr_val_images: Path
    shr_factual: tuple[Path, Path]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in vars(self).items():
            if isinstance(value, dict):
                out[name] = {k: str(v) for k, v in value.items()}
            elif isinstance(value, tuple):
                out[name] = [str(v) for v in value]
            else:
                out[name] = str(value)
        return out


def demo_paths(root: Path) -> DemoPaths:
    """The layout under ``root``, without writing anything (the demo renames a temp dir into place)."""
    root = Path(root)
    vg, hadpo, pope, coco, shr = root / "vg", root / "hadpo", root / "pope", root / "coco2014", root / "shr"
    return DemoPaths(
        root=root,
        vg=vg,
        vg_image_data=vg / "image_data.json",
        vg_region_descriptions=vg / "region_descriptions.json",
        vg_images=vg / "VG_100K",
        vg_objects=vg / "objects.json",
        vg_attributes=vg / "attributes.json",
        vg_relationships=vg / "relationships.json",
        hadpo=hadpo,
        pope_data=hadpo / "pope_data.json",
        desc_data=hadpo / "desc_data.json",
        pope=pope,
        pope_labels={s: pope / "output" / "coco" / f"coco_pope_{s}.json" for s in POPE_SPLITS},
        coco=coco,
        coco_images=coco / "val2014",
        coco_annotations=coco / "annotations",
        shr=shr,
        shr_val_images=shr / "val_images_final.json",
        shr_factual=(shr / "shr_factual_part1.jsonl", shr / "shr_factual_part2.jsonl"),
    )


def write_demo_data(root: Path, *, n_images: int = 24, seed: int = 0) -> DemoPaths:
    """Write ``n_images`` Visual Genome and ``n_images`` COCO images plus every annotation file.

    The last quarter of the VG images (at least 2) are the SHR evaluation images; the rest
    carry the training pairs, as the real SHR images are held out of training.
    """
    if n_images < 4:
        raise ValueError(
            f"n_images must be at least 4 (training and SHR images both need some), got {n_images}"
        )
    rng = random.Random(seed)
    paths = demo_paths(root)
    for folder in (
        paths.vg_images,
        paths.hadpo,
        paths.pope_labels["random"].parent,
        paths.coco_images,
        paths.coco_annotations,
        paths.shr,
    ):
        folder.mkdir(parents=True, exist_ok=True)

    vg_ids = sorted(rng.sample(range(1, 2_400_000), n_images))
    coco_ids = sorted(rng.sample(range(1, 590_000), n_images))
    vg_scenes = {image_id: random_scene(rng) for image_id in vg_ids}
    coco_scenes = {image_id: random_scene(rng) for image_id in coco_ids}
    n_shr = max(2, n_images // 4)
    train_ids, shr_ids = vg_ids[:-n_shr], vg_ids[-n_shr:]

    for image_id, scene in vg_scenes.items():
        save_image(scene, paths.vg_images / f"{image_id}.jpg")
    for image_id, scene in coco_scenes.items():
        save_image(scene, paths.coco_images / coco_file_name(image_id))

    _write_json(paths.vg_image_data, vg_image_index(vg_ids))
    _write_json(paths.vg_region_descriptions, vg_regions(vg_scenes))
    _write_json(paths.vg_objects, vg_objects(vg_scenes))
    _write_json(paths.vg_attributes, vg_attributes(vg_scenes))
    _write_json(paths.vg_relationships, vg_relationships(vg_scenes))
    _write_json(paths.pope_data, hadpo_pope_items({i: vg_scenes[i] for i in train_ids}, rng))
    _write_json(paths.desc_data, hadpo_desc_items({i: vg_scenes[i] for i in train_ids}, rng))
    for split in POPE_SPLITS:
        _write_jsonl(paths.pope_labels[split], pope_questions(coco_scenes, split, rng))
    _write_json(paths.coco_annotations / "instances_val2014.json", coco_instances(coco_scenes))
    _write_json(paths.coco_annotations / "captions_val2014.json", coco_captions(coco_scenes))
    _write_json(paths.shr_val_images, [{"image_id": i} for i in shr_ids])
    half = len(shr_ids) // 2
    for part, ids in zip(paths.shr_factual, (shr_ids[:half], shr_ids[half:]), strict=True):
        _write_jsonl(part, [{str(i): world.facts(vg_scenes[i])} for i in ids])
    return paths


def save_image(scene: Scene, path: Path) -> None:
    world.draw(scene).save(path, quality=95, subsampling=0)


def coco_file_name(image_id: int) -> str:
    return f"COCO_val2014_{image_id:012d}.jpg"


def vg_image_index(image_ids: list[int]) -> list[dict[str, Any]]:
    return [
        {
            "image_id": i,
            "url": VG_URL.format(image_id=i),
            "width": IMAGE_SIZE,
            "height": IMAGE_SIZE,
            "coco_id": None,
            "flickr_id": None,
        }
        for i in image_ids
    ]


def _box(x: int, y: int, w: int, h: int) -> dict[str, int]:
    return {"x": x, "y": y, "w": w, "h": h}


def vg_regions(scenes: dict[int, Scene]) -> list[dict[str, Any]]:
    out = []
    region_id = 1
    for image_id, scene in scenes.items():
        regions = []
        boxes = [(t.box, world.a(t.kind)) for t in scene.things]
        boxes.append(((0, 0, IMAGE_SIZE, IMAGE_SIZE), f"a plain {world.BACKGROUND} background"))
        for (x, y, w, h), phrase in boxes:
            regions.append(
                {"region_id": region_id, "image_id": image_id, "x": x, "y": y, "width": w, "height": h,
                 "phrase": phrase}
            )  # fmt: skip
            region_id += 1
        out.append({"id": image_id, "regions": regions})
    return out


def _object_ids(scenes: dict[int, Scene]) -> dict[tuple[int, int], int]:
    ids: dict[tuple[int, int], int] = {}
    for image_id, scene in scenes.items():
        for k in range(len(scene.things)):
            ids[(image_id, k)] = len(ids) + 1
    return ids


def vg_objects(scenes: dict[int, Scene]) -> list[dict[str, Any]]:
    """Visual Genome ``objects.json``: per image, each object with its box and names."""
    ids = _object_ids(scenes)
    return [
        {
            "image_id": image_id,
            "objects": [
                {"object_id": ids[(image_id, k)], **_box(*t.box), "names": [t.kind]}
                for k, t in enumerate(scene.things)
            ],
        }
        for image_id, scene in scenes.items()
    ]


def size_word(thing: world.Thing) -> str:
    return "small" if thing.box[2] <= 15 else "large"


def vg_attributes(scenes: dict[int, Scene]) -> list[dict[str, Any]]:
    """Visual Genome ``attributes.json``: the toy world's objects are small or large, and coloured."""
    ids = _object_ids(scenes)
    return [
        {
            "image_id": image_id,
            "attributes": [
                {
                    "object_id": ids[(image_id, k)],
                    **_box(*t.box),
                    "names": [t.kind],
                    "attributes": [size_word(t), t.glyph.colour],
                }
                for k, t in enumerate(scene.things)
            ],
        }  # fmt: skip
        for image_id, scene in scenes.items()
    ]


def vg_relationships(scenes: dict[int, Scene]) -> list[dict[str, Any]]:
    """Visual Genome ``relationships.json``: "left of" between neighbours, left to right."""
    ids = _object_ids(scenes)
    out = []
    rel_id = 1
    for image_id, scene in scenes.items():
        rels = []
        order = sorted(range(len(scene.things)), key=lambda k: scene.things[k].box[0])
        for left, right in zip(order, order[1:], strict=False):
            subject, obj = scene.things[left], scene.things[right]
            rels.append(
                {
                    "relationship_id": rel_id,
                    "predicate": "left of",
                    "subject": {
                        "object_id": ids[(image_id, left)],
                        **_box(*subject.box),
                        "name": subject.kind,
                    },
                    "object": {"object_id": ids[(image_id, right)], **_box(*obj.box), "name": obj.kind},
                }
            )
            rel_id += 1
        out.append({"image_id": image_id, "relationships": rels})
    return out


def hadpo_pope_items(scenes: dict[int, Scene], rng: random.Random) -> list[dict[str, Any]]:
    """A yes-question per drawn object and as many no-questions (co-occurring absent objects first);
    every 4th marked answered right."""
    items: list[dict[str, Any]] = []
    for image_id, scene in scenes.items():
        # As many absent objects as drawn ones, those that co-occur with what is there first: the
        # hallucinations HA-DPO's pairs are built to train away.
        absent = world.ghost_candidates(scene)[: len(scene.things)]
        for obj, present in [(o, True) for o in scene.objects] + [(o, False) for o in absent]:
            truth, lie = (
                (world.yes_answer(obj), world.no_answer(obj))
                if present
                else (world.no_answer(obj), world.yes_answer(obj))
            )
            items.append(
                {"image_id": image_id, "question": world.question(obj), "chosen": truth, "rejected": lie}
            )
    rng.shuffle(items)
    for k, item in enumerate(items):
        item["correct"] = k % 4 == 3
    return items


def hadpo_desc_items(scenes: dict[int, Scene], rng: random.Random) -> list[dict[str, Any]]:
    return [
        {"image_id": image_id, "chosen": world.describe(scene), "rejected": world.hallucinate(scene, rng)}
        for image_id, scene in scenes.items()
    ]


def pope_questions(scenes: dict[int, Scene], split: str, rng: random.Random) -> list[dict[str, Any]]:
    """POPE's three ways to pick the absent objects: at random, the most frequent, or the ones that
    co-occur with what is there."""
    frequency = Counter(obj for scene in scenes.values() for obj in scene.objects)
    rows: list[dict[str, Any]] = []
    for image_id, scene in scenes.items():
        negatives = _negatives(scene, split, frequency, rng)
        # Alternate yes and no, as the POPE files do, so the labels are balanced in any prefix.
        for positive, negative in zip(scene.objects, negatives, strict=True):
            for obj, label in ((positive, "yes"), (negative, "no")):
                rows.append(
                    {
                        "question_id": len(rows) + 1,
                        "image": coco_file_name(image_id),
                        "text": world.question(obj),
                        "label": label,
                    }
                )
    return rows


def _negatives(scene: Scene, split: str, frequency: Counter[str], rng: random.Random) -> list[str]:
    absent = scene.absent()
    n = len(scene.things)
    if split == "random":
        return rng.sample(absent, n)
    if split == "popular":
        return sorted(absent, key=lambda obj: (-frequency[obj], obj))[:n]
    if split == "adversarial":
        # POPE ranks absent objects by how often they co-occur with the present ones.
        tempting = scene.cooccurring_absent()
        rest = [o for o in absent if o not in tempting]
        return (rng.sample(tempting, len(tempting)) + rng.sample(rest, len(rest)))[:n]
    raise ValueError(f"unknown POPE split {split!r}")


def coco_instances(scenes: dict[int, Scene]) -> dict[str, Any]:
    """COCO ``instances_val2014.json``: images, one annotation per drawn object, the categories."""
    annotations = []
    for image_id, scene in scenes.items():
        for t in scene.things:
            x, y, w, h = t.box
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": t.glyph.coco_id,
                 "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}
            )  # fmt: skip
    return {
        "images": _coco_images(scenes),
        "annotations": annotations,
        "categories": [
            {"id": k.coco_id, "name": k.name, "supercategory": k.supercategory} for k in world.KINDS
        ],
    }


def coco_captions(scenes: dict[int, Scene]) -> dict[str, Any]:
    """COCO ``captions_val2014.json``: two faithful captions per image."""
    annotations = []
    for image_id, scene in scenes.items():
        for caption in world.describe(scene)[:2]:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "caption": caption})
    return {"images": _coco_images(scenes), "annotations": annotations}


def _coco_images(scenes: dict[int, Scene]) -> list[dict[str, Any]]:
    return [
        {"id": i, "file_name": coco_file_name(i), "width": IMAGE_SIZE, "height": IMAGE_SIZE} for i in scenes
    ]


# Plain writes, not atomic ones: the demo renames the whole data dir into place instead,
# which is one fsync-free rename rather than one per file.
def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_jsonl(path: Path, rows: list[Any]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
