"""Synthetic data in exactly the public layouts, for `hadpo demo` and the tests.

Each image is a few coloured shapes on a plain background, so every question, answer and
description written here is checkably true or false about the pixels: chosen answers are
true, rejected ones hallucinate a shape that is not drawn, as in the real HA-DPO data.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMAGE_SIZE = 64
BACKGROUND = "white"
BACKGROUND_RGB = (255, 255, 255)
# Saturated and far apart, so JPEG blur at a shape's edge never looks like another colour.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "blue": (30, 70, 220),
    "green": (30, 160, 60),
    "yellow": (240, 225, 20),
    "purple": (140, 40, 180),
    "orange": (250, 130, 0),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
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
    hadpo: Path
    pope_data: Path  # --pope-data
    desc_data: Path  # --desc-data
    pope: Path  # a "clone of the POPE repo"
    pope_labels: dict[str, Path]  # split -> JSON Lines label file
    coco: Path  # the COCO 2014 dir holding val2014/
    coco_images: Path
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
        hadpo=hadpo,
        pope_data=hadpo / "pope_data.json",
        desc_data=hadpo / "desc_data.json",
        pope=pope,
        pope_labels={s: pope / "output" / "coco" / f"coco_pope_{s}.json" for s in POPE_SPLITS},
        coco=coco,
        coco_images=coco / "val2014",
        shr=shr,
        shr_val_images=shr / "val_images_final.json",
        shr_factual=(shr / "shr_factual_part1.jsonl", shr / "shr_factual_part2.jsonl"),
    )


@dataclass(frozen=True)
class Shape:
    colour: str
    kind: str
    box: tuple[int, int, int, int]  # x, y, width, height
    where: str  # "on the left", "on the right", "in the center"

    @property
    def name(self) -> str:
        return f"{self.colour} {self.kind}"


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]

    @property
    def objects(self) -> list[str]:
        return [s.name for s in self.shapes]

    def absent(self) -> list[str]:
        drawn = set(self.objects)
        return [f"{c} {k}" for c in COLOURS for k in SHAPES if f"{c} {k}" not in drawn]

    def absent_colour_objects(self) -> list[str]:
        """Objects whose colour is nowhere in the image: a hallucination visible in the pixels."""
        used = {s.colour for s in self.shapes}
        return [f"{c} {k}" for c in COLOURS if c not in used for k in SHAPES]


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
        draw_scene(scene).save(paths.vg_images / f"{image_id}.jpg", quality=95, subsampling=0)
    for image_id, scene in coco_scenes.items():
        draw_scene(scene).save(paths.coco_images / coco_file_name(image_id), quality=95, subsampling=0)

    _write_json(paths.vg_image_data, vg_image_index(vg_ids))
    _write_json(paths.vg_region_descriptions, vg_regions(vg_scenes))
    _write_json(paths.pope_data, hadpo_pope_items({i: vg_scenes[i] for i in train_ids}, rng))
    _write_json(paths.desc_data, hadpo_desc_items({i: vg_scenes[i] for i in train_ids}, rng))
    for split in POPE_SPLITS:
        _write_jsonl(paths.pope_labels[split], pope_questions(coco_scenes, split, rng))
    _write_json(paths.shr_val_images, [{"image_id": i} for i in shr_ids])
    half = len(shr_ids) // 2
    for part, ids in zip(paths.shr_factual, (shr_ids[:half], shr_ids[half:]), strict=True):
        _write_jsonl(part, [{str(i): shr_facts(vg_scenes[i])} for i in ids])
    return paths


def random_scene(rng: random.Random) -> Scene:
    """One or two shapes of different colours, side by side so their boxes never overlap."""
    count = rng.choice((1, 2))
    colours = rng.sample(list(COLOURS), count)
    if count == 1:
        size = rng.randint(24, 32)
        x = y = (IMAGE_SIZE - size) // 2
        return Scene((Shape(colours[0], rng.choice(SHAPES), (x, y, size, size), "in the center"),))
    shapes = []
    for colour, left, where in zip(colours, (4, 36), ("on the left", "on the right"), strict=True):
        size = rng.randint(18, 22)
        x = left + rng.randint(0, 4)
        y = rng.randint(4, IMAGE_SIZE - size - 4)
        shapes.append(Shape(colour, rng.choice(SHAPES), (x, y, size, size), where))
    return Scene(tuple(shapes))


def draw_scene(scene: Scene) -> Any:
    """A PIL image of ``scene`` (PIL imported here: only writing the data needs it)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND_RGB)
    pen = ImageDraw.Draw(image)
    for shape in scene.shapes:
        x, y, w, h = shape.box
        fill = COLOURS[shape.colour]
        if shape.kind == "circle":
            pen.ellipse((x, y, x + w - 1, y + h - 1), fill=fill)
        elif shape.kind == "square":
            pen.rectangle((x, y, x + w - 1, y + h - 1), fill=fill)
        else:
            pen.polygon(((x + w / 2, y), (x, y + h - 1), (x + w - 1, y + h - 1)), fill=fill)
    return image


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


def vg_regions(scenes: dict[int, Scene]) -> list[dict[str, Any]]:
    out = []
    region_id = 1
    for image_id, scene in scenes.items():
        regions = []
        boxes = [(s.box, _a(s.name)) for s in scene.shapes]
        boxes.append(((0, 0, IMAGE_SIZE, IMAGE_SIZE), f"a plain {BACKGROUND} background"))
        for (x, y, w, h), phrase in boxes:
            regions.append(
                {
                    "region_id": region_id,
                    "image_id": image_id,
                    "x": x,
                    "y": y,
                    "width": w,
                    "height": h,
                    "phrase": phrase,
                }
            )
            region_id += 1
        out.append({"id": image_id, "regions": regions})
    return out


def _yes(obj: str) -> str:
    return f"Yes, there is {_a(obj)} in the image."


def _no(obj: str) -> str:
    return f"No, there is no {obj} in the image."


def hadpo_pope_items(scenes: dict[int, Scene], rng: random.Random) -> list[dict[str, Any]]:
    """A yes-question per drawn shape and as many no-questions; every 4th marked answered right."""
    items: list[dict[str, Any]] = []
    for image_id, scene in scenes.items():
        absent = rng.sample(scene.absent(), len(scene.shapes))
        for obj, present in [(o, True) for o in scene.objects] + [(o, False) for o in absent]:
            truth, lie = (_yes(obj), _no(obj)) if present else (_no(obj), _yes(obj))
            question = f"Is there {_a(obj)} in the image?"
            items.append({"image_id": image_id, "question": question, "chosen": truth, "rejected": lie})
    for k, item in enumerate(items):
        item["correct"] = k % 4 == 3
    return items


def describe(scene: Scene) -> list[str]:
    """Three faithful descriptions of ``scene``, several sentences each (SHR judges sentences)."""
    listed = _join([_a(s.name) for s in scene.shapes])
    located = " ".join(f"There is {_a(s.name)} {s.where}." for s in scene.shapes)
    count = "one shape" if len(scene.shapes) == 1 else f"{len(scene.shapes)} shapes"
    return [
        f"The image shows {listed} on a plain {BACKGROUND} background.",
        f"{located} The background is plain {BACKGROUND}.",
        f"This is a simple drawing with {count}. {located} Nothing else is in the picture.",
    ]


def hallucinate(scene: Scene, rng: random.Random) -> list[str]:
    """Descriptions that add (or swap in) a shape whose colour is not in the image."""
    ghosts = rng.sample(scene.absent_colour_objects(), 3)
    located = " ".join(f"There is {_a(s.name)} {s.where}." for s in scene.shapes)
    first = scene.shapes[0]
    listed = _join([_a(s.name) for s in scene.shapes] + [_a(ghosts[0])])
    return [
        f"The image shows {listed} on a plain {BACKGROUND} background.",
        f"{located} There is also {_a(ghosts[1])} next to the {first.kind}. The background is plain {BACKGROUND}.",
        f"This is a simple drawing. There is {_a(ghosts[2])} {first.where}. The background is plain {BACKGROUND}.",
    ]


def hadpo_desc_items(scenes: dict[int, Scene], rng: random.Random) -> list[dict[str, Any]]:
    return [
        {"image_id": image_id, "chosen": describe(scene), "rejected": hallucinate(scene, rng)}
        for image_id, scene in scenes.items()
    ]


def pope_questions(scenes: dict[int, Scene], split: str, rng: random.Random) -> list[dict[str, Any]]:
    """POPE's three ways to pick the absent objects: at random, the most frequent, or look-alikes."""
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
                        "text": f"Is there {_a(obj)} in the image?",
                        "label": label,
                    }
                )
    return rows


def _negatives(scene: Scene, split: str, frequency: Counter[str], rng: random.Random) -> list[str]:
    absent = scene.absent()
    if split == "random":
        return rng.sample(absent, len(scene.shapes))
    if split == "popular":
        return sorted(absent, key=lambda obj: (-frequency[obj], obj))[: len(scene.shapes)]
    if split == "adversarial":
        # Same colour, other shape: the closest thing to POPE's co-occurring objects here.
        return [rng.choice([f"{s.colour} {k}" for k in SHAPES if k != s.kind]) for s in scene.shapes]
    raise ValueError(f"unknown POPE split {split!r}")


def shr_facts(scene: Scene) -> list[str]:
    count = "one shape" if len(scene.shapes) == 1 else f"{len(scene.shapes)} shapes"
    return [f"There is {_a(s.name)} {s.where}." for s in scene.shapes] + [
        f"The image contains {count}.",
        f"The background is plain {BACKGROUND}.",
    ]


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# Plain writes, not atomic ones: the demo renames the whole data dir into place instead,
# which is one fsync-free rename rather than one per file.
def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_jsonl(path: Path, rows: list[Any]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
