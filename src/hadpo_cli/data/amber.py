"""AMBER data: a checkout of junyangwang0410/AMBER (annotations, word associations, global safe
words, query files) and responses files in the official format.

Layout read (``<amber>`` is the checkout; its ``data`` folder may be given directly)::

    <amber>/data/annotations.json        [{"id", "type", "truth", "hallu"?}, ...]
    <amber>/data/relation.json           {"object": ["associated word", ...], ...}
    <amber>/data/safe_words.txt          one word a line
    <amber>/data/query/query_<part>.json [{"id", "image": "AMBER_1.jpg", "query"}, ...]

Responses, as the official ``inference.py`` reads them: ``[{"id": 1, "response": "..."}, ...]``.
Every reader raises :class:`UserError` naming the file (and the item) on bad input.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hadpo_cli.errors import UserError
from hadpo_cli.io import atomic_write_json, open_text, read_json
from hadpo_cli.metrics.amber import ANNOTATION_TYPES, ATTRIBUTE, GENERATIVE, dimension_of, vocabulary

REPOSITORY = "https://github.com/junyangwang0410/AMBER"
ANNOTATIONS = "annotations.json"
ASSOCIATION = "relation.json"
SAFE_WORDS = "safe_words.txt"
QUERY_DIR = "query"

# The official query files, by the part they hold (inference.py's --evaluation_type a/g/d/de/da/dr).
QUERY_PARTS = (
    "all",
    "generative",
    "discriminative",
    "discriminative-existence",
    "discriminative-attribute",
    "discriminative-relation",
)


@dataclass(frozen=True)
class Annotation:
    id: int
    type: str
    truth: str | tuple[str, ...]  # "yes"/"no" for a question; the objects present for a description
    hallu: tuple[str, ...] = ()  # generative only: hallucination-prone objects

    @property
    def is_generative(self) -> bool:
        return self.type == GENERATIVE


@dataclass(frozen=True)
class Query:
    id: int
    image: str
    query: str


@dataclass(frozen=True)
class AmberData:
    """Everything scoring needs from an AMBER checkout."""

    data_dir: Path
    annotations: dict[int, Annotation]
    association: dict[str, list[str]]
    safe_words: tuple[str, ...]
    vocabulary: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vocabulary", vocabulary(self.association))

    @classmethod
    def load(cls, amber_path: str | Path) -> AmberData:
        data = data_dir(amber_path)
        association = load_association(data / ASSOCIATION)
        return cls(
            data_dir=data,
            annotations=load_annotations(data / ANNOTATIONS, association=association),
            association=association,
            safe_words=load_safe_words(data / SAFE_WORDS),
        )


def data_dir(amber_path: str | Path) -> Path:
    """``<amber>/data`` of a checkout, or ``amber_path`` itself when it is that folder."""
    root = Path(amber_path)
    if not root.is_dir():
        raise UserError(f"{root}: AMBER directory not found (git clone {REPOSITORY})")
    data = root / "data"
    if data.is_dir():
        return data
    if (root / ANNOTATIONS).is_file():
        return root
    raise UserError(f"{root}: not an AMBER checkout, {data / ANNOTATIONS} not found (git clone {REPOSITORY})")


def _int_id(value: Any, place: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{place}: 'id' must be an integer, got {value!r}")
    return value


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def load_association(path: str | Path) -> dict[str, list[str]]:
    """``relation.json``: each object's associated words."""
    data = read_json(path, unique_keys=True)
    if not isinstance(data, dict):
        raise UserError(f'{path}: expected a JSON object {{"object": ["word", ...], ...}}')
    for key, words in data.items():
        if not _str_list(words):
            raise UserError(f"{path}: the words of {key!r} must be a list of strings")
    return data


def load_safe_words(path: str | Path) -> tuple[str, ...]:
    """``safe_words.txt``: one word a line, taken whole as the official script does (only the
    line break removed); blank lines are dropped."""
    with open_text(path) as fh:
        text = fh.read()
    return tuple(line for line in text.split("\n") if line)


def load_annotations(
    path: str | Path, *, association: Mapping[str, Any] | None = None
) -> dict[int, Annotation]:
    """``annotations.json`` by id. With ``association``, every generative object must be one of
    its keys (the official script fails on any other)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise UserError(f'{path}: expected a JSON list of {{"id", "type", "truth"}} objects')
    out: dict[int, Annotation] = {}
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise UserError(f"{path}: entry {i} is not a JSON object")
        for key in ("id", "type", "truth"):
            if key not in item:
                raise UserError(f"{path}: entry {i} has no {key!r}")
        item_id = _int_id(item["id"], f"{path}: entry {i}")
        place = f"{path}: id {item_id}"
        if item_id in out:
            raise UserError(f"{place}: appears twice")
        kind = item["type"]
        if kind not in ANNOTATION_TYPES:
            raise UserError(f"{place}: unknown type {kind!r} (one of {', '.join(ANNOTATION_TYPES)})")
        truth = item["truth"]
        if kind == GENERATIVE:
            hallu = item.get("hallu")
            if not _str_list(truth) or not _str_list(hallu):
                raise UserError(f"{place}: a generative item needs 'truth' and 'hallu' lists of strings")
            if association is not None:
                unknown = [obj for obj in [*truth, *hallu] if obj not in association]
                if unknown:
                    raise UserError(f"{place}: object {unknown[0]!r} is not a key of {ASSOCIATION}")
            out[item_id] = Annotation(item_id, kind, tuple(truth), tuple(hallu))
        else:
            if truth not in ("yes", "no"):
                raise UserError(f'{place}: \'truth\' must be "yes" or "no", got {truth!r}')
            out[item_id] = Annotation(item_id, kind, truth)
    if not out:
        raise UserError(f"{path}: holds no annotations")
    return out


def _in_part(annotation: Annotation, part: str) -> bool:
    if part == "all":
        return True
    if annotation.is_generative:
        return part == GENERATIVE
    if part == "discriminative":
        return True
    dim = dimension_of(annotation.type)
    wanted = part.removeprefix("discriminative-")
    return dim in ATTRIBUTE if wanted == "attribute" else dim == wanted


def load_queries(
    amber_path: str | Path, part: str = "all", *, annotations: Mapping[int, Annotation] | None = None
) -> list[Query]:
    """The questions of one part, in file order, from ``data/query/query_<part>.json``.

    Without that file, ``query_all.json`` filtered by the annotation types (``annotations``, or
    those of the checkout).
    """
    if part not in QUERY_PARTS:
        raise ValueError(f"unknown AMBER part {part!r}; one of {QUERY_PARTS}")
    data = data_dir(amber_path)
    path = data / QUERY_DIR / f"query_{part}.json"
    if path.is_file() or part == "all":
        return read_queries(path)
    everything = data / QUERY_DIR / "query_all.json"
    if not everything.is_file():
        raise UserError(f"{path}: file not found (nor {everything.name} to take the part from)")
    if annotations is None:
        annotations = load_annotations(data / ANNOTATIONS)
    out = []
    for query in read_queries(everything):
        annotation = annotations.get(query.id)
        if annotation is None:
            raise UserError(f"{everything}: id {query.id} has no annotation in {ANNOTATIONS}")
        if _in_part(annotation, part):
            out.append(query)
    return out


def read_queries(path: str | Path) -> list[Query]:
    """One query file: ``[{"id", "image", "query"}, ...]``, ids unique."""
    data = read_json(path)
    if not isinstance(data, list):
        raise UserError(f'{path}: expected a JSON list of {{"id", "image", "query"}} objects')
    out: list[Query] = []
    seen: set[int] = set()
    for i, item in enumerate(data):
        if not isinstance(item, dict) or "id" not in item:
            raise UserError(f"{path}: entry {i} is not an object with an 'id'")
        item_id = _int_id(item["id"], f"{path}: entry {i}")
        for key in ("image", "query"):
            if not isinstance(item.get(key), str):
                raise UserError(f"{path}: id {item_id}: {key!r} must be a string")
        if item_id in seen:
            raise UserError(f"{path}: id {item_id} appears twice")
        seen.add(item_id)
        out.append(Query(item_id, item["image"], item["query"]))
    return out


def read_responses(path: str | Path, *, known_ids: Collection[int] | None = None) -> dict[int, str]:
    """A responses file in the official format, ``[{"id": 1, "response": "..."}, ...]``, by id
    in file order. With ``known_ids`` (the annotation ids), any other id is an error."""
    data = read_json(path)
    if not isinstance(data, list):
        raise UserError(f'{path}: expected a JSON list of {{"id", "response"}} objects')
    out: dict[int, str] = {}
    for i, item in enumerate(data):
        if not isinstance(item, dict) or "id" not in item:
            raise UserError(f"{path}: entry {i} is not an object with an 'id'")
        item_id = _int_id(item["id"], f"{path}: entry {i}")
        if "response" not in item:
            raise UserError(f"{path}: id {item_id} has no 'response'")
        response = item["response"]
        if not isinstance(response, str):
            raise UserError(
                f"{path}: id {item_id}: 'response' must be a string, got {type(response).__name__}"
            )
        if item_id in out:
            raise UserError(f"{path}: id {item_id} has two responses")
        if known_ids is not None and item_id not in known_ids:
            raise UserError(f"{path}: id {item_id} is not an AMBER item (no annotation)")
        out[item_id] = response
    return out


def responses_list(responses: Mapping[int, str]) -> list[dict[str, Any]]:
    """``{id: response}`` as the official format's list, by id."""
    return [{"id": int(item_id), "response": responses[item_id]} for item_id in sorted(responses)]


def write_responses(path: str | Path, responses: Mapping[int, str]) -> None:
    """Write ``responses`` (atomically) as a file the official ``inference.py`` reads."""
    atomic_write_json(path, responses_list(responses))
