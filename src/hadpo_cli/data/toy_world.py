"""The demo's toy world: a few COCO objects, each drawn as a glyph of its own, in small scenes.

Every object kind is a COCO category drawn as one shape in one colour (a person is a red
circle, a dog a red diamond, a car a blue square, ...), so a tiny model can learn to see them,
and every text written about a scene is checkably true or false about its pixels. Kinds come
in groups that co-occur (a street: person, bicycle, car), so an absent object that usually
comes with the ones present is the tempting hallucination, as in POPE's adversarial split.

Pure functions of a seeded ``random.Random``: the same seed gives the same world.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

IMAGE_SIZE = 64
BACKGROUND = "grey"
BACKGROUND_RGB = (122, 116, 104)
# Saturated and far apart, so JPEG blur at a glyph's edge never looks like another colour.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "blue": (30, 70, 220),
    "green": (30, 160, 60),
    "yellow": (240, 200, 20),
    "purple": (140, 40, 180),
    "orange": (250, 130, 0),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond")


@dataclass(frozen=True)
class Kind:
    """An object kind: a COCO category name, its COCO category id, and its glyph."""

    name: str
    coco_id: int
    shape: str
    colour: str
    supercategory: str


# Two kinds share a colour or a shape, never both: telling them apart needs both cues.
KINDS: tuple[Kind, ...] = (
    Kind("person", 1, "circle", "red", "person"),
    Kind("bicycle", 2, "triangle", "green", "vehicle"),
    Kind("car", 3, "square", "blue", "vehicle"),
    Kind("bus", 6, "diamond", "yellow", "vehicle"),
    Kind("cup", 47, "circle", "yellow", "kitchen"),
    Kind("bottle", 44, "square", "purple", "kitchen"),
    Kind("bowl", 51, "triangle", "orange", "kitchen"),
    Kind("spoon", 50, "diamond", "green", "kitchen"),
    Kind("dog", 18, "diamond", "red", "animal"),
    Kind("cat", 17, "diamond", "blue", "animal"),
    Kind("couch", 63, "square", "green", "furniture"),
    Kind("chair", 62, "triangle", "purple", "furniture"),
)
BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
# Kinds that co-occur: a scene draws most of its objects from one group.
GROUPS: dict[str, tuple[str, ...]] = {
    "street": ("person", "bicycle", "car", "bus"),
    "kitchen": ("cup", "bottle", "bowl", "spoon"),
    "living room": ("dog", "cat", "couch", "chair"),
}
GROUP_OF: dict[str, str] = {name: group for group, names in GROUPS.items() for name in names}
IN_GROUP = 0.85  # chance that each further object comes from the scene's group
COLUMNS = ("on the left", "in the middle", "on the right")


@dataclass(frozen=True)
class Thing:
    """One drawn object: its kind, its box (x, y, width, height) and where it stands."""

    kind: str
    box: tuple[int, int, int, int]
    where: str

    @property
    def glyph(self) -> Kind:
        return BY_NAME[self.kind]


@dataclass(frozen=True)
class Scene:
    group: str
    things: tuple[Thing, ...]

    @property
    def objects(self) -> list[str]:
        return [t.kind for t in self.things]

    def absent(self) -> list[str]:
        present = set(self.objects)
        return [k.name for k in KINDS if k.name not in present]

    def cooccurring_absent(self) -> list[str]:
        """Absent kinds of the scene's own groups: what a model that guesses from context would
        wrongly see (POPE's adversarial negatives)."""
        groups = {GROUP_OF[o] for o in self.objects}
        return [name for name in self.absent() if GROUP_OF[name] in groups]


def random_scene(rng: random.Random) -> Scene:
    """One to three objects of different kinds, mostly of one group, in different columns."""
    group = rng.choice(sorted(GROUPS))
    count = rng.choice((1, 2, 2, 3))
    kinds: list[str] = []
    while len(kinds) < count:
        pool = GROUPS[group] if (not kinds or rng.random() < IN_GROUP) else [k.name for k in KINDS]
        choice = rng.choice(
            [k for k in pool if k not in kinds] or [k.name for k in KINDS if k.name not in kinds]
        )
        kinds.append(choice)
    columns = sorted(rng.sample(range(3), count))
    cell = IMAGE_SIZE // 3
    things = []
    for kind, column in zip(kinds, columns, strict=True):
        size = rng.randint(14, 18)
        x = column * cell + rng.randint(0, cell - size)
        y = rng.randint(4, IMAGE_SIZE - size - 4)
        things.append(Thing(kind, (x, y, size, size), COLUMNS[column]))
    return Scene(group, tuple(things))


def draw(scene: Scene) -> Any:
    """A PIL image of ``scene`` (PIL imported here: only writing data needs it)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND_RGB)
    pen = ImageDraw.Draw(image)
    for thing in scene.things:
        x, y, w, h = thing.box
        fill = COLOURS[thing.glyph.colour]
        right, bottom = x + w - 1, y + h - 1
        shape = thing.glyph.shape
        if shape == "circle":
            pen.ellipse((x, y, right, bottom), fill=fill)
        elif shape == "square":
            pen.rectangle((x, y, right, bottom), fill=fill)
        elif shape == "triangle":
            pen.polygon(((x + w / 2, y), (x, bottom), (right, bottom)), fill=fill)
        else:  # diamond
            pen.polygon(((x + w / 2, y), (right, y + h / 2), (x + w / 2, bottom), (x, y + h / 2)), fill=fill)
    return image


# -- text about a scene ----------------------------------------------------------------------------
def a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def count_phrase(n: int) -> str:
    return "one object" if n == 1 else f"{['', '', 'two', 'three'][n]} objects"


def located(scene: Scene) -> list[str]:
    return [f"There is {a(t.kind)} {t.where}." for t in scene.things]


def describe(scene: Scene) -> list[str]:
    """Three faithful descriptions, several sentences each (SHR judges sentences)."""
    listed = join([a(o) for o in scene.objects])
    where = " ".join(located(scene))
    return [
        f"The image shows {listed} on a plain {BACKGROUND} background.",
        f"{where} The background is plain {BACKGROUND}.",
        f"This picture has {count_phrase(len(scene.things))}. {where} Nothing else is in the picture.",
    ]


def ghost_candidates(scene: Scene) -> list[str]:
    """Absent kinds to hallucinate: co-occurring ones first (the likely mistake), then the rest."""
    tempting = scene.cooccurring_absent()
    return tempting + [k for k in scene.absent() if k not in tempting]


def hallucinate(scene: Scene, rng: random.Random) -> list[str]:
    """Descriptions that add an absent object, mostly one that co-occurs with what is there."""
    candidates = ghost_candidates(scene)
    ghosts = [candidates[0] if rng.random() < 0.7 else rng.choice(candidates) for _ in range(3)]
    where = " ".join(located(scene))
    first = scene.things[0]
    listed = join([a(o) for o in scene.objects] + [a(ghosts[0])])
    return [
        f"The image shows {listed} on a plain {BACKGROUND} background.",
        f"{where} There is also {a(ghosts[1])} next to the {first.kind}. The background is plain {BACKGROUND}.",
        f"This picture has {count_phrase(len(scene.things))}. There is {a(ghosts[2])} {first.where}. "
        f"The background is plain {BACKGROUND}.",
    ]


def facts(scene: Scene) -> list[str]:
    """What a person who looked at the image would write (SHR's human facts)."""
    return [*located(scene), f"The image contains {count_phrase(len(scene.things))}.",
            f"The background is plain {BACKGROUND}."]  # fmt: skip


def yes_answer(obj: str) -> str:
    return f"Yes, there is {a(obj)} in the image."


def no_answer(obj: str) -> str:
    return f"No, there is no {obj} in the image."


def question(obj: str) -> str:
    return f"Is there {a(obj)} in the image?"


# -- reading objects back out of text (the local judge, the demo's checks) --------------------------
_NAME_RE = re.compile(r"\b(" + "|".join(k.name for k in KINDS) + r")(?:e?s)?\b", re.IGNORECASE)


def named_objects(text: str) -> set[str]:
    """The toy world's kinds a text names: ``"Two Dogs and a cup"`` -> ``{"dog", "cup"}``."""
    return {m.lower() for m in _NAME_RE.findall(text)}


def absent_from(text: str, kinds: Iterable[str] | None = None) -> str:
    """The first kind (in world order) that ``text`` does not name: a sure hallucination."""
    named = named_objects(text)
    pool = list(kinds) if kinds is not None else [k.name for k in KINDS]
    return next(k for k in pool if k not in named)
