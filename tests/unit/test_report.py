"""`hadpo report` without a browser: the sections, the numbers in them, one file with nothing
fetched from the network, each thumbnail embedded once. (tests/integration opens it in chromium.)"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from hadpo_cli.__main__ import app
from results_fixtures import (
    build,
    make_outputs,
    write_training_run,
)


@pytest.fixture()
def outputs(tmp_path):
    return make_outputs(tmp_path)


def test_every_section_is_there(outputs):
    page, result = build(outputs, "--baseline", str(outputs / "base"))
    for section in ("training", "evaluation", "compare", "inspection"):
        assert f'<section id="{section}">' in page
    assert "wrote" in result.stderr and result.stdout == ""
    # Six training curves and the settings of the run.
    assert "DPO loss" in page and "reward accuracy" in page and "learning rate" in page
    assert "<code>0.1</code>" in page  # beta
    # Metric table: candidate POPE accuracy 37/40, baseline 31/40.
    assert "92.50" in page and "77.50" in page
    # Compare: McNemar b=1 (question 22), c=7 -> p = 2*(1+8)/2^8.
    assert f"{2 * 9 / 256:.3g}" in page


def test_pope_wrong_answers_grouped_by_object_with_thumbnails_made_once(outputs):
    page, _ = build(outputs, "--baseline", str(outputs / "base"))
    assert "3 of 40 questions answered wrong" in page
    # Questions 6 and 22 ask about "dining table" (i % 4 == 2), 7 about "car".
    assert re.search(r"<summary>dining table <span class=\"muted\">\(2\)</span>", page)
    assert re.search(r"<summary>car <span class=\"muted\">\(1\)</span>", page)
    pope_rules = re.findall(
        r"\.t\d+\{width:\d+px;height:\d+px;background-image:url\(data:image/jpeg;base64,", page
    )
    assert len(pope_rules) == 2 + 2  # two COCO images, two VG images
    assert "baseline also wrong" in page and "baseline was right" in page


def test_shr_sentences_carry_labels_reasons_and_the_filter(outputs):
    page, _ = build(outputs)
    assert 'class="halonly"' in page
    assert '<li class="sent hal" value="3"><span class="badge hal">hallucination</span> A kite flies' in page
    assert "because 2" in page
    assert "5 of 5 sentences shown" in page


def test_page_needs_no_network(outputs):
    page, _ = build(outputs, "--baseline", str(outputs / "base"))
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"url\((['\"])?(https?:)?//", page)
    assert "@import" not in page


def test_same_inputs_same_page(outputs):
    a, _ = build(outputs, "--baseline", str(outputs / "base"))
    b, _ = build(outputs, "--baseline", str(outputs / "base"))
    assert a == b


def test_unreadable_path_is_one_error_line(tmp_path):
    result = CliRunner().invoke(
        app, ["report", str(tmp_path / "missing"), "--output", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error:") and "not found" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_folder_without_results_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(
        app, ["report", str(tmp_path / "empty"), "--output", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 2
    assert "no training run (trainer_state.json) or evaluation result found" in result.stderr


def test_training_run_with_only_checkpoints(tmp_path):
    run = write_training_run(tmp_path / "run" / "checkpoint-8")
    (run / "settings.json").rename(run / "hadpo_settings.json")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", str(tmp_path / "run"), "--output", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert '<section id="training">' in page and "<code>tiny</code>" in page


def test_300_photo_sized_images_stay_far_under_20_mb(tmp_path):
    # Noise is JPEG's worst case; a thumbnail of it is still a few kilobytes.
    import numpy as np
    from PIL import Image

    from hadpo_cli.report.html import Thumbnails

    rng = np.random.default_rng(0)
    thumbs = Thumbnails()
    for i in range(300):
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(path, quality=95)
        thumbs.tag(path, str(i))
        thumbs.tag(path, str(i))  # shown twice, embedded once
    assert len(thumbs) == 300
    assert len(thumbs.css().encode()) < 20e6 / 2


def test_a_missing_image_is_marked_not_fatal(tmp_path):
    from hadpo_cli.report.html import Thumbnails

    thumbs = Thumbnails()
    assert "no image" in thumbs.tag(tmp_path / "gone.jpg", "gone")
    assert len(thumbs) == 0
