"""Visual Genome's object annotations of an image, for the judge of ``hadpo pairs``.

Reads ``objects.json`` (objects: names and boxes), ``attributes.json`` (the same objects with
their attributes), ``relationships.json`` (subject, predicate, object) and
``region_descriptions.json``, as the VG 1.2 / 1.4 releases ship them; each of the first three is
optional (a VG download may lack some), but every image asked for must have some annotation.
The files are large (hundreds of MB): each is read once and only the images asked for are kept.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hadpo_cli.data.visual_genome import Region, load_vg_regions
from hadpo_cli.errors import UserError, first_few
from hadpo_cli.io import read_json

OBJECTS, ATTRIBUTES, RELATIONSHIPS = "objects.json", "attributes.json", "relationships.json"


@dataclass
class VGObject:
    name: str
    box: tuple[float, float, float, float]  # x, y, width, height in pixels
    attributes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VGRelation:
    subject: str
    predicate: str
    object: str


@dataclass
class ImageAnnotations:
    objects: list[VGObject] = field(default_factory=list)
    relations: list[VGRelation] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.objects or self.relations or self.regions)


def _entries(path: Path) -> list[Any]:
    data = read_json(path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list with one entry per image")
    return data


def _image_id(entry: Any, path: Path, i: int) -> int:
    # VG 1.4 says "image_id"; 1.2's objects.json says "id" for the same thing.
    value = entry.get("image_id", entry.get("id")) if isinstance(entry, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UserError(f"{path}: entry {i} has no image id")
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{path}: entry {i} has no image id ({value!r})") from None


def _name(obj: Any) -> str | None:
    """An object's name: ``names[0]`` (1.4) or ``name`` (1.2), stripped and lowercased."""
    if not isinstance(obj, dict):
        return None
    names = obj.get("names")
    name = names[0] if isinstance(names, list) and names else obj.get("name")
    return name.strip().lower() if isinstance(name, str) and name.strip() else None


def _box(obj: dict[str, Any]) -> tuple[float, float, float, float]:
    return tuple(float(obj.get(k, 0) or 0) for k in ("x", "y", "w", "h"))  # type: ignore[return-value]


def load_vg_annotations(vg_path: str | Path, image_ids: Collection[int]) -> dict[int, ImageAnnotations]:
    """Objects (with attributes), relationships and region descriptions of ``image_ids``."""
    vg = Path(vg_path)
    wanted = set(image_ids)
    out = {i: ImageAnnotations() for i in wanted}
    by_object_id: dict[int, VGObject] = {}
    for file_name, key in ((OBJECTS, "objects"), (ATTRIBUTES, "attributes")):
        path = vg / file_name
        if not path.is_file():
            continue
        for i, entry in enumerate(_entries(path)):
            image_id = _image_id(entry, path, i)
            if image_id not in wanted:
                continue
            for obj in entry.get(key) or []:
                name = _name(obj)
                if name is None:
                    continue
                object_id = obj.get("object_id")
                known = by_object_id.get(object_id) if isinstance(object_id, int) else None
                if known is None:
                    known = VGObject(name, _box(obj))
                    out[image_id].objects.append(known)
                    if isinstance(object_id, int):
                        by_object_id[object_id] = known
                attrs = obj.get("attributes") or []
                known.attributes += [a.strip().lower() for a in attrs if isinstance(a, str) and a.strip()]
    path = vg / RELATIONSHIPS
    if path.is_file():
        for i, entry in enumerate(_entries(path)):
            image_id = _image_id(entry, path, i)
            if image_id not in wanted:
                continue
            for rel in entry.get("relationships") or []:
                subject, obj = _name(rel.get("subject")), _name(rel.get("object"))
                predicate = rel.get("predicate")
                if subject and obj and isinstance(predicate, str) and predicate.strip():
                    out[image_id].relations.append(VGRelation(subject, predicate.strip().lower(), obj))
    if (vg / "region_descriptions.json").is_file():
        for image_id, regions in load_vg_regions(vg, wanted).items():
            out[image_id].regions = regions
    bare = sorted(i for i, a in out.items() if a.is_empty())
    if bare:
        raise UserError(
            f"{vg}: no objects, relationships or region descriptions for {len(bare)} image(s): {first_few(bare)} "
            f"(looked in {OBJECTS}, {ATTRIBUTES}, {RELATIONSHIPS}, region_descriptions.json)"
        )
    return out


def format_annotations(ann: ImageAnnotations, width: int, height: int, *, limit: int = 60) -> str:
    """The annotations as the judge reads them: objects with attributes and boxes (corners as
    fractions of the image), relationships, region descriptions; repeats dropped, each list
    capped at ``limit`` lines so one crowded image cannot blow up the prompt."""

    def frac(box: tuple[float, float, float, float]) -> str:
        x, y, w, h = box
        return f"[{x / width:.2f}, {y / height:.2f}, {(x + w) / width:.2f}, {(y + h) / height:.2f}]"

    def unique(lines: list[str]) -> list[str]:
        return list(dict.fromkeys(lines))[:limit]

    objects = unique(
        [
            f"- {o.name}"
            + (f" ({', '.join(dict.fromkeys(o.attributes))})" if o.attributes else "")
            + f" {frac(o.box)}"
            for o in ann.objects
        ]
    )
    relations = unique([f"- {r.subject} {r.predicate} {r.object}" for r in ann.relations])
    regions = unique([f"- {frac((r.x, r.y, r.width, r.height))}: {r.phrase.strip()}" for r in ann.regions])
    parts = []
    for title, lines in (
        ("Objects", objects),
        ("Relationships", relations),
        ("Region descriptions", regions),
    ):
        parts.append(f"{title}:\n" + ("\n".join(lines) if lines else "- (none annotated)"))
    return "\n".join(parts)
