"""SHR results: ``judgement.json`` (+ ``settings.json``) from `hadpo eval shr`; a ``--no-judge``
run (``metrics.json`` beside ``responses.json``) gives the repetition figures only.

Per image the columns count sentences and words as :mod:`hadpo_cli.metrics.shr` does, so the
ratios over all images are those of ``metrics.json`` (tested) and any subset of images can be
scored the same way; with K judge runs each run keeps its own counts for ``mean_hal_ratio``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from hadpo_cli.errors import UserError
from hadpo_cli.io import read_json
from hadpo_cli.metrics.paired import col_mean, ratio_of_sums
from hadpo_cli.metrics.shr import HALLUCINATION, LABELS, NGRAM_ORDERS, count_words, distinct_ngram_ratio
from hadpo_cli.results.registry import Benchmark, EvalResult, Metric, register, walk

NAME = "shr"
SPLIT = "val"  # SHR has one image set (val_images_final.json)
JUDGEMENT_FILE = "judgement.json"
RESPONSES_FILE = "responses.json"


def _mean_hal_ratio(c, axis):  # noqa: ANN001, ANN202
    # The published headline: the mean over judge runs of each run's sentence ratio.
    runs = sorted(k[len("hal_run") :] for k in c if k.startswith("hal_run"))
    if not runs:
        return _undefined(c, axis)
    ratios = np.stack([ratio_of_sums(c, f"hal_run{r}", f"judged_run{r}", axis) for r in runs])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all runs unjudged: NaN is the answer
        return np.nanmean(ratios, axis=0)


def _undefined(c, axis):  # noqa: ANN001, ANN202
    # A --no-judge run has no judgements: NaN (shown as "-"), never a misleading 0.
    return np.nan * col_mean(c, "sentences", axis)


def _judged_ratio(num: str, den: str):  # noqa: ANN202
    return lambda c, axis: ratio_of_sums(c, num, den, axis) if den in c else _undefined(c, axis)


def _mean(name: str):  # noqa: ANN202
    return lambda c, axis: col_mean(c, name, axis)


def _judged_mean(name: str):  # noqa: ANN202
    return lambda c, axis: col_mean(c, name, axis) if name in c else _undefined(c, axis)


METRICS = (
    Metric("mean_hal_ratio", _mean_hal_ratio),
    Metric("hal_sents_ratio", _judged_ratio("hal", "judged")),
    Metric("hal_words_ratio", _judged_ratio("hal_w", "judged_w")),
    Metric("hal_sents_per_image", _judged_mean("hal_per_run"), kind="value"),
    Metric("sents_per_image", _mean("sentences"), kind="value"),
    Metric("words_per_image", _mean("words"), kind="value"),
    *(Metric(f"gram-{n}-repetition", _mean(f"distinct_{n}")) for n in NGRAM_ORDERS),
)


def find(path: Path) -> list[EvalResult]:
    if path.is_file() and path.name in ("metrics.json", "settings.json"):
        path = path.parent  # one file of an output folder named: the folder is the run
    out = []
    for file in walk(path, lambda p: p.name in (JUDGEMENT_FILE, RESPONSES_FILE)):
        if file.name == JUDGEMENT_FILE:
            out.append(_read_judgement(file))
        elif not (file.parent / JUDGEMENT_FILE).exists() and _is_shr_run(file.parent):
            out.append(_read_responses(file))
    return out


def _is_shr_run(folder: Path) -> bool:
    """A --no-judge SHR run: its metrics.json is there and names no other benchmark (the runs of
    the shared shape name theirs, and AMBER's answers are also called responses.json)."""
    metrics = folder / "metrics.json"
    if not metrics.is_file():
        return False
    doc = read_json(metrics)
    return isinstance(doc, dict) and doc.get("benchmark", NAME) == NAME


def _settings(folder: Path) -> dict[str, Any]:
    path = folder / "settings.json"
    doc = read_json(path) if path.is_file() else {}
    return doc if isinstance(doc, dict) else {}


def _read_judgement(file: Path) -> EvalResult:
    doc = read_json(file)
    runs = doc.get("runs") if isinstance(doc, dict) else None
    if (
        not isinstance(runs, list)
        or not runs
        or not all(isinstance(r, dict) and isinstance(r.get("images"), dict) for r in runs)
    ):
        raise UserError(
            f"{file}: expected {{'runs': [{{'images': {{...}}}}, ...]}} as `hadpo eval shr` writes it"
        )
    keys = list(runs[0]["images"])
    for k, run in enumerate(runs[1:], start=2):
        if set(run["images"]) != set(keys):
            raise UserError(f"{file}: judge run {k} covers other images than run 1")
    cols: dict[str, list[float]] = {}
    records = []
    for key in keys:
        first = _image(runs[0]["images"][key], file, key)
        sentences = [s.get("sentence", "") for s in first["sentences"]]
        words = [count_words(s) for s in sentences]
        row: dict[str, float] = {"sentences": len(sentences), "words": sum(words)}
        judged = judged_w = hal = hal_w = 0
        for k, run in enumerate(runs, start=1):
            image = _image(run["images"][key], file, key)
            labels = [s.get("label") for s in image["sentences"]]
            if len(labels) != len(sentences):
                raise UserError(
                    f"{file}: image {key} has {len(labels)} sentences in run {k}, {len(sentences)} in run 1"
                )
            run_judged = sum(lab in LABELS for lab in labels)
            run_hal = sum(lab == HALLUCINATION for lab in labels)
            row[f"hal_run{k}"] = run_hal
            row[f"judged_run{k}"] = run_judged
            judged += run_judged
            hal += run_hal
            judged_w += sum(w for w, lab in zip(words, labels, strict=True) if lab in LABELS)
            hal_w += sum(w for w, lab in zip(words, labels, strict=True) if lab == HALLUCINATION)
        row.update(judged=judged, judged_w=judged_w, hal=hal, hal_w=hal_w, hal_per_run=hal / len(runs))
        response = str(first.get("response", ""))
        row.update({f"distinct_{n}": distinct_ngram_ratio(response, n) for n in NGRAM_ORDERS})
        for name, value in row.items():
            cols.setdefault(name, []).append(value)
        records.append(
            {
                "image_id": key,
                "response": response,
                "status": first.get("status"),
                "sentences": [
                    {"sentence": s.get("sentence", ""), "label": s.get("label"), "reason": s.get("reason")}
                    for s in first["sentences"]
                ],
            }
        )
    return EvalResult(
        benchmark=NAME,
        split=SPLIT,
        source=file,
        keys=keys,
        columns={k: np.asarray(v, dtype=float) for k, v in cols.items()},
        records=records,
        settings={**_settings(file.parent), "judge_model": doc.get("judge_model"), "judge_runs": len(runs)},
        identity=(str(file.resolve()),),
    )


def _image(obj: Any, file: Path, key: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or not isinstance(obj.get("sentences"), list):
        raise UserError(f"{file}: image {key} has no list of sentences")
    return obj


def _read_responses(file: Path) -> EvalResult:
    doc = read_json(file)
    if not isinstance(doc, dict):
        raise UserError(f"{file}: expected {{image_id: description}}")
    keys = [str(k) for k in doc]
    responses = [str(v) for v in doc.values()]
    from hadpo_cli.metrics.shr import split_sentences

    sentences = [split_sentences(r) for r in responses]
    cols = {
        "sentences": np.array([len(s) for s in sentences], dtype=float),
        "words": np.array([sum(count_words(x) for x in s) for s in sentences], dtype=float),
        **{
            f"distinct_{n}": np.array([distinct_ngram_ratio(r, n) for r in responses], dtype=float)
            for n in NGRAM_ORDERS
        },
    }
    records = [
        {
            "image_id": k,
            "response": r,
            "status": "not judged",
            "sentences": [{"sentence": s, "label": None, "reason": None} for s in ss],
        }
        for k, r, ss in zip(keys, responses, sentences, strict=True)
    ]
    return EvalResult(NAME, SPLIT, file, keys, cols, records, _settings(file.parent), (str(file.resolve()),))


def inspect(result: EvalResult, baseline: EvalResult | None, thumbs: Any) -> str:
    from hadpo_cli.report.html import shr_sentences

    paths: dict[str, Path] = {}
    vg = result.settings.get("vg_path")
    if vg:
        try:
            from hadpo_cli.data.visual_genome import load_vg_images

            paths = {str(k): im.path for k, im in load_vg_images(vg).items()}
        except UserError:
            paths = {}  # the images have moved: the sentences are still worth showing
    return shr_sentences(result, paths, thumbs)


register(
    Benchmark(
        name=NAME,
        metrics=METRICS,
        find=find,
        inspect=inspect,
        inspect_title="SHR: each sentence as the judge labelled it",
    )
)
