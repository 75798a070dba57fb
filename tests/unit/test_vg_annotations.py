"""Visual Genome's objects, attributes and relationships as `hadpo pairs` shows them to the judge."""

from __future__ import annotations

import json

import pytest

from hadpo_cli.data.vg_annotations import format_annotations, load_vg_annotations
from hadpo_cli.errors import UserError


def write(vg, name, obj):
    (vg / name).write_text(json.dumps(obj))


@pytest.fixture
def vg(tmp_path):
    vg = tmp_path / "vg"
    vg.mkdir()
    # VG 1.2's objects.json names the image "id"; its objects carry "name" or "names".
    write(vg, "objects.json", [
        {"id": 1, "objects": [{"object_id": 10, "x": 0, "y": 0, "w": 50, "h": 20, "names": ["Dog "]},
                              {"object_id": 11, "x": 50, "y": 20, "w": 50, "h": 80, "name": "cup"}]},
        {"id": 2, "objects": [{"object_id": 20, "x": 1, "y": 1, "w": 2, "h": 2, "names": ["cat"]}]},
    ])  # fmt: skip
    write(vg, "attributes.json", [
        {"image_id": 1, "attributes": [{"object_id": 10, "names": ["dog"], "attributes": ["Brown", "small"]},
                                       {"object_id": 12, "x": 0, "y": 50, "w": 10, "h": 10, "names": ["ball"],
                                        "attributes": ["red"]}]},
    ])  # fmt: skip
    write(vg, "relationships.json", [
        {"image_id": 1, "relationships": [{"predicate": "Next To", "subject": {"name": "dog"},
                                           "object": {"names": ["cup"]}},
                                          {"predicate": "", "subject": {"name": "a"}, "object": {"name": "b"}}]},
    ])  # fmt: skip
    write(vg, "region_descriptions.json", [
        {"id": 1, "regions": [{"image_id": 1, "x": 0, "y": 0, "width": 100, "height": 50, "phrase": "a dog by a cup"}]},
    ])  # fmt: skip
    return vg


def test_objects_merge_with_their_attributes_by_id_and_only_asked_images_are_kept(vg):
    ann = load_vg_annotations(vg, [1])
    assert set(ann) == {1}
    objects = {o.name: o for o in ann[1].objects}
    assert set(objects) == {"dog", "cup", "ball"}  # the ball is only in attributes.json
    assert objects["dog"].attributes == ["brown", "small"] and objects["cup"].attributes == []
    assert [(r.subject, r.predicate, r.object) for r in ann[1].relations] == [("dog", "next to", "cup")]
    assert [r.phrase for r in ann[1].regions] == ["a dog by a cup"]


def test_the_judge_sees_boxes_as_fractions_and_each_list_once(vg):
    text = format_annotations(load_vg_annotations(vg, [1])[1], width=100, height=100)
    assert "- dog (brown, small) [0.00, 0.00, 0.50, 0.20]" in text
    assert "- cup [0.50, 0.20, 1.00, 1.00]" in text
    assert "Relationships:\n- dog next to cup" in text
    assert "Region descriptions:\n- [0.00, 0.00, 1.00, 0.50]: a dog by a cup" in text
    empty = format_annotations(load_vg_annotations(vg, [2])[2], width=10, height=10)
    assert "Relationships:\n- (none annotated)" in empty


def test_an_image_with_no_annotation_at_all_is_one_error_naming_it(vg):
    with pytest.raises(
        UserError, match=r"no objects, relationships or region descriptions for 1 image\(s\): 3"
    ):
        load_vg_annotations(vg, [1, 3])


def test_optional_files_may_be_missing(vg):
    for name in ("objects.json", "attributes.json", "relationships.json"):
        (vg / name).unlink()
    ann = load_vg_annotations(vg, [1])
    assert ann[1].objects == [] and [r.phrase for r in ann[1].regions] == ["a dog by a cup"]
