"""COCO 2014 annotations for CHAIR: ground-truth objects per image, and the val2014 image list.

The annotation folder is the one COCO ships as ``annotations_trainval2014.zip``:
``instances_val2014.json`` / ``captions_val2014.json`` (and maybe the ``train2014`` pair).
An image's ground truth is built from every ``instances_*2014.json`` and
``captions_*2014.json`` there (see :func:`hadpo_cli.metrics.chair.ground_truth_objects`). The
canonical CHAIR code requires and merges both the train and the val files; an image's
annotations are all in its own split's files, so for val2014 images the val pair alone gives
the same ground truth.

The files are large (``instances_val2014.json`` is about 160 MB): each is read once and only
the annotations of the images asked for are kept.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from hadpo_cli.errors import UserError
from hadpo_cli.io import read_json
from hadpo_cli.metrics.chair import vocabulary

INSTANCES_GLOB = "instances_*2014.json"
CAPTIONS_GLOB = "captions_*2014.json"
VAL_CAPTIONS = "captions_val2014.json"
VAL_INSTANCES = "instances_val2014.json"


def annotation_files(ann_dir: Path) -> tuple[list[Path], list[Path]]:
    """The instance and caption files of a COCO 2014 annotation folder (at least one of each)."""
    ann_dir = Path(ann_dir)
    if not ann_dir.is_dir():
        raise UserError(f"{ann_dir}: no such directory (expected the COCO 2014 annotations folder)")
    instances = sorted(ann_dir.glob(INSTANCES_GLOB))
    captions = sorted(ann_dir.glob(CAPTIONS_GLOB))
    missing = [glob for glob, found in ((INSTANCES_GLOB, instances), (CAPTIONS_GLOB, captions)) if not found]
    if missing:
        raise UserError(
            f"{ann_dir}: no {' and no '.join(missing)} file; expected the COCO 2014 annotations "
            f"{VAL_INSTANCES} and {VAL_CAPTIONS} (from annotations_trainval2014.zip)"
        )
    return instances, captions


def load_coco_ground_truth(ann_dir: Path, image_ids: Collection[int]) -> dict[int, set[str]]:
    """Ground-truth COCO categories of each image in ``image_ids``, from the instance annotations
    and the reference captions; an image with no annotation gets an empty set."""
    wanted = set(image_ids)
    instance_files, caption_files = annotation_files(ann_dir)
    vocab = vocabulary()
    pairs: list[tuple[int, str]] = []
    for path in instance_files:
        doc = _read_doc(path)
        names = _category_names(doc, path)
        for image_id, ann in _wanted_annotations(doc, path, wanted):
            category_id = _field(ann, "category_id", path)
            try:
                name = names[category_id]
            except (KeyError, TypeError):
                raise UserError(
                    f"{path}: an annotation of image {image_id} has category_id {category_id!r}, "
                    "which is not in its 'categories'"
                ) from None
            if name not in vocab.node_of:
                raise UserError(f"{path}: category {name!r} is not one of the 80 COCO categories")
            pairs.append((image_id, name))
        del doc
    captions: list[tuple[int, str]] = []
    for path in caption_files:
        doc = _read_doc(path)
        for image_id, ann in _wanted_annotations(doc, path, wanted):
            caption = _field(ann, "caption", path)
            if not isinstance(caption, str):
                raise UserError(f"{path}: a caption of image {image_id} is not a string")
            captions.append((image_id, caption))
        del doc
    return vocab.ground_truth_objects(pairs, captions, wanted)


def coco_image_files(ann_dir: Path) -> dict[int, str]:
    """COCO val2014 image id -> file name, from the "images" list of ``captions_val2014.json``
    (or of ``instances_val2014.json`` when there is no captions file)."""
    ann_dir = Path(ann_dir)
    if not ann_dir.is_dir():
        raise UserError(f"{ann_dir}: no such directory (expected the COCO 2014 annotations folder)")
    path = next((ann_dir / n for n in (VAL_CAPTIONS, VAL_INSTANCES) if (ann_dir / n).is_file()), None)
    if path is None:
        raise UserError(f"{ann_dir}: neither {VAL_CAPTIONS} nor {VAL_INSTANCES} is there")
    doc = _read_doc(path)
    images = doc.get("images")
    if not isinstance(images, list):
        raise UserError(f"{path}: no 'images' list")
    out: dict[int, str] = {}
    for entry in images:
        image_id = _field(entry, "id", path, what="an entry of 'images'")
        file_name = _field(entry, "file_name", path, what="an entry of 'images'")
        if not isinstance(image_id, int) or isinstance(image_id, bool) or not isinstance(file_name, str):
            raise UserError(f"{path}: image {image_id!r} has no integer 'id' and string 'file_name'")
        out[image_id] = file_name
    if not out:
        raise UserError(f"{path}: the 'images' list is empty")
    return out


# -- helpers -----------------------------------------------------------------------------------------
def _read_doc(path: Path) -> dict[str, Any]:
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise UserError(f"{path}: expected a JSON object (a COCO annotation file), got {type(doc).__name__}")
    return doc


def _field(obj: Any, key: str, path: Path, *, what: str = "an entry of 'annotations'") -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise UserError(f"{path}: {what} has no {key!r}")
    return obj[key]


def _category_names(doc: dict[str, Any], path: Path) -> dict[Any, str]:
    categories = doc.get("categories")
    if not isinstance(categories, list):
        raise UserError(f"{path}: no 'categories' list")
    names: dict[Any, str] = {}
    for cat in categories:
        cat_id = _field(cat, "id", path, what="an entry of 'categories'")
        name = _field(cat, "name", path, what="an entry of 'categories'")
        if not isinstance(name, str):
            raise UserError(f"{path}: category {cat_id!r} has a name that is not a string")
        try:
            names[cat_id] = name
        except TypeError:
            raise UserError(f"{path}: a category id is not a number ({cat_id!r})") from None
    return names


def _wanted_annotations(doc: dict[str, Any], path: Path, wanted: set[int]) -> list[tuple[int, dict]]:
    """``(image_id, annotation)`` for the annotations of the images in ``wanted``."""
    annotations = doc.get("annotations")
    if not isinstance(annotations, list):
        raise UserError(f"{path}: no 'annotations' list")
    out = []
    for ann in annotations:
        try:
            image_id = ann["image_id"]
            keep = image_id in wanted
        except (KeyError, TypeError):  # not an object, no image_id, or an id that is a list
            raise UserError(f"{path}: an entry of 'annotations' has no 'image_id' number") from None
        if keep:
            out.append((image_id, ann))
    return out
