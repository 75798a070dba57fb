"""The COCO 2014 annotation reader CHAIR uses, on tiny files in the real files' layout."""

import json
import re
from pathlib import Path

import pytest

import hadpo_cli.data.coco_annotations as coco
from hadpo_cli.data.coco_annotations import coco_image_files, load_coco_ground_truth
from hadpo_cli.errors import UserError

CATEGORIES = [
    {"supercategory": "person", "id": 1, "name": "person"},
    {"supercategory": "animal", "id": 18, "name": "dog"},
    {"supercategory": "furniture", "id": 62, "name": "chair"},
    {"supercategory": "furniture", "id": 67, "name": "dining table"},
]
IMAGES = [
    {"id": 42, "file_name": "COCO_val2014_000000000042.jpg", "height": 480, "width": 640},
    {"id": 73, "file_name": "COCO_val2014_000000000073.jpg", "height": 480, "width": 640},
    {"id": 74, "file_name": "COCO_val2014_000000000074.jpg", "height": 480, "width": 640},
]


def write(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def instances(annotations, categories=CATEGORIES):
    return {"info": {}, "images": IMAGES, "annotations": annotations, "categories": categories}


def captions(annotations):
    return {"info": {}, "images": IMAGES, "annotations": annotations}


def inst(image_id, category_id, ann_id=0):
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": [0, 0, 1, 1]}


def cap(image_id, text, ann_id=0):
    return {"id": ann_id, "image_id": image_id, "caption": text}


@pytest.fixture
def ann_dir(tmp_path):
    write(
        tmp_path / "instances_val2014.json",
        instances([inst(42, 18), inst(42, 1), inst(42, 18), inst(73, 67), inst(999, 62)]),
    )
    write(
        tmp_path / "captions_val2014.json",
        captions(
            [
                cap(42, "A puppy sitting on a sofa."),
                cap(42, "A dog on a couch with a man."),
                cap(73, "Two glasses of wine on a table."),
                cap(999, "A giraffe."),
            ]
        ),
    )
    return tmp_path


def test_ground_truth_from_instances_and_captions(ann_dir):
    truth = load_coco_ground_truth(ann_dir, [42, 73, 74])
    assert truth == {
        42: {"dog", "person", "couch"},  # instances dog, person; captions add the sofa/couch
        73: {"dining table"},  # "glasses of wine" names no wine glass
        74: set(),  # no annotation at all
    }


def test_only_the_images_asked_for(ann_dir):
    assert load_coco_ground_truth(ann_dir, {73}) == {73: {"dining table"}}
    assert load_coco_ground_truth(ann_dir, []) == {}


def test_train_files_are_read_too(ann_dir):
    write(ann_dir / "instances_train2014.json", instances([inst(9, 62)]))
    write(ann_dir / "captions_train2014.json", captions([cap(9, "A cat on a chair."), cap(42, "A bench.")]))
    truth = load_coco_ground_truth(ann_dir, [9, 42])
    assert truth == {9: {"chair", "cat"}, 42: {"dog", "person", "couch", "bench"}}


def test_each_file_is_read_once(ann_dir, monkeypatch):
    calls = []
    real = coco.read_json

    def counting(path, **kwargs):
        calls.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(coco, "read_json", counting)
    load_coco_ground_truth(ann_dir, [42])
    assert sorted(calls) == ["captions_val2014.json", "instances_val2014.json"]


@pytest.mark.parametrize("keep", ["instances_val2014.json", "captions_val2014.json"])
def test_both_kinds_of_file_are_required(ann_dir, keep):
    for name in ("instances_val2014.json", "captions_val2014.json"):
        if name != keep:
            (ann_dir / name).unlink()
    with pytest.raises(UserError) as err:
        load_coco_ground_truth(ann_dir, [42])
    message = str(err.value)
    assert message.startswith(f"{ann_dir}: ")
    assert "instances_val2014.json" in message and "captions_val2014.json" in message


def test_missing_directory(tmp_path):
    with pytest.raises(UserError, match="no such directory"):
        load_coco_ground_truth(tmp_path / "nope", [1])
    with pytest.raises(UserError, match="no such directory"):
        coco_image_files(tmp_path / "nope")


def test_no_annotations_list(ann_dir):
    path = write(ann_dir / "captions_val2014.json", {"images": IMAGES})
    with pytest.raises(UserError, match=f"^{re.escape(str(path))}: no 'annotations' list$"):
        load_coco_ground_truth(ann_dir, [42])


def test_no_categories_list(ann_dir):
    doc = instances([inst(42, 18)])
    del doc["categories"]
    path = write(ann_dir / "instances_val2014.json", doc)
    with pytest.raises(UserError, match=f"^{re.escape(str(path))}: no 'categories' list$"):
        load_coco_ground_truth(ann_dir, [42])


def test_category_id_not_in_categories(ann_dir):
    path = write(ann_dir / "instances_val2014.json", instances([inst(42, 5)]))
    with pytest.raises(UserError, match=f"^{re.escape(str(path))}: .*category_id 5"):
        load_coco_ground_truth(ann_dir, [42])


def test_category_outside_coco(ann_dir):
    cats = [*CATEGORIES, {"id": 99, "name": "spaceship"}]
    path = write(ann_dir / "instances_val2014.json", instances([inst(42, 99)], cats))
    with pytest.raises(UserError, match=f"^{re.escape(str(path))}: category 'spaceship'"):
        load_coco_ground_truth(ann_dir, [42])


def test_annotation_without_image_id(ann_dir):
    path = write(ann_dir / "instances_val2014.json", instances([{"category_id": 18}]))
    with pytest.raises(UserError, match=f"^{re.escape(str(path))}: .*'image_id'"):
        load_coco_ground_truth(ann_dir, [42])


def test_annotation_that_is_not_an_object(ann_dir):
    path = write(ann_dir / "captions_val2014.json", captions(["A dog."]))
    with pytest.raises(UserError, match=f"^{re.escape(str(path))}: "):
        load_coco_ground_truth(ann_dir, [42])


def test_caption_that_is_not_text(ann_dir):
    path = write(ann_dir / "captions_val2014.json", captions([{"image_id": 42, "caption": 7}]))
    with pytest.raises(UserError, match=f"^{re.escape(str(path))}: a caption of image 42 is not a string"):
        load_coco_ground_truth(ann_dir, [42])


def test_invalid_json_names_the_file(ann_dir):
    path = ann_dir / "instances_val2014.json"
    path.write_text('{"annotations": [', encoding="utf-8")
    with pytest.raises(UserError, match=f"^{re.escape(str(path))}:1: not valid JSON"):
        load_coco_ground_truth(ann_dir, [42])


def test_a_json_array_is_not_an_annotation_file(ann_dir):
    path = write(ann_dir / "captions_val2014.json", [cap(42, "A dog.")])
    with pytest.raises(UserError, match=f"^{re.escape(str(path))}: expected a JSON object"):
        load_coco_ground_truth(ann_dir, [42])


# -- the image list ------------------------------------------------------------------------------
def test_image_files_from_the_captions_file(ann_dir):
    write(ann_dir / "instances_val2014.json", {"images": [{"id": 1, "file_name": "other.jpg"}]})
    assert coco_image_files(ann_dir) == {
        42: "COCO_val2014_000000000042.jpg",
        73: "COCO_val2014_000000000073.jpg",
        74: "COCO_val2014_000000000074.jpg",
    }


def test_image_files_from_the_instances_file_without_captions(ann_dir):
    (ann_dir / "captions_val2014.json").unlink()
    assert sorted(coco_image_files(ann_dir)) == [42, 73, 74]


def test_image_files_need_a_val_file(tmp_path):
    write(tmp_path / "captions_train2014.json", captions([]))
    with pytest.raises(
        UserError,
        match=f"^{re.escape(str(tmp_path))}: neither captions_val2014.json nor instances_val2014.json",
    ):
        coco_image_files(tmp_path)


def test_image_files_need_an_images_list(ann_dir):
    path = write(ann_dir / "captions_val2014.json", {"annotations": []})
    with pytest.raises(UserError, match=f"^{re.escape(str(path))}: no 'images' list$"):
        coco_image_files(ann_dir)


def test_image_entry_without_file_name(ann_dir):
    path = write(ann_dir / "captions_val2014.json", {"images": [{"id": 1}]})
    with pytest.raises(UserError, match=f"^{re.escape(str(path))}: .*'file_name'"):
        coco_image_files(ann_dir)
