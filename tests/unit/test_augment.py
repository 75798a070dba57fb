import random

from PIL import Image

from hadpo_cli.data.augment import RATIO, SCALE, crop_box, crop_flip, pair_rng


def test_crop_boxes_stay_inside_and_respect_scale_and_ratio():
    rng = random.Random(0)
    for width, height in [(640, 480), (100, 300), (50, 50)]:
        for _ in range(200):
            left, top, right, bottom = crop_box(rng, width, height)
            w, h = right - left, bottom - top
            assert 0 <= left < right <= width and 0 <= top < bottom <= height
            if height <= width * RATIO[1]:  # (a very tall image may get the centred fallback)
                # rounding moves area and aspect a little for small images
                assert SCALE[0] * 0.9 <= (w * h) / (width * height) <= 1.0
            if width >= 100 and height >= 100:
                assert RATIO[0] * 0.95 <= w / h <= RATIO[1] * 1.05 or (w, h) == (width, height)


def test_extreme_aspect_falls_back_to_a_centred_crop():
    left, top, right, bottom = crop_box(random.Random(1), 1000, 10)
    assert bottom - top == 10 and (left + right) // 2 in (499, 500)


def test_same_pair_same_view_and_other_pairs_differ():
    image = Image.new("RGB", (64, 48))
    image.paste((255, 0, 0), (0, 0, 32, 48))  # left half red: a flip is visible
    views = [crop_flip(image, pair_rng(42, "pope", 7, "Is there a cat?")).tobytes() for _ in range(3)]
    assert views[0] == views[1] == views[2]
    others = {crop_flip(image, pair_rng(42, "pope", i, "q")).tobytes() for i in range(20)}
    assert len(others) > 10


def test_flip_happens_about_half_the_time():
    # left half red, right half black: whichever side the output's left column shows tells the flip
    image = Image.new("RGB", (40, 40))
    image.paste((255, 0, 0), (0, 0, 20, 40))
    flipped = readable = 0
    for i in range(400):
        rng_copy = pair_rng(0, i)
        crop_box(rng_copy, 40, 40)
        will_flip = rng_copy.random() < 0.5
        out = crop_flip(image, pair_rng(0, i))
        left_pixel = out.getpixel((0, out.size[1] // 2))
        right_pixel = out.getpixel((out.size[0] - 1, out.size[1] // 2))
        if left_pixel != right_pixel:  # the crop kept both halves
            readable += 1
            shows_flip = left_pixel != (255, 0, 0)
            assert shows_flip == will_flip
            flipped += shows_flip
    assert readable > 300
    assert 0.35 < flipped / readable < 0.65
