"""SHR (HA-DPO's sentence-level hallucination ratio): Visual Genome images described in detail, each
sentence labelled by an LLM judge; ``hadpo eval shr``. The pipeline is :mod:`hadpo_cli.evaluation.shr`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hadpo_cli.evaluation.benchmarks import Benchmark, register
from hadpo_cli.settings.eval_shr import EvalShrSettings


def run(settings: EvalShrSettings) -> Any:
    from hadpo_cli.console import judge_progress_bar
    from hadpo_cli.evaluation import shr  # after validation: --help and flag errors stay fast

    with judge_progress_bar(enabled=not settings.no_judge) as on_progress:
        return shr.run(settings, on_progress=on_progress)


def unjudged_images(result: Any) -> int:
    return int(result.status_counts.get("failed", 0) + result.status_counts.get("malformed", 0))


def show(result: Any, settings: EvalShrSettings, as_json: bool) -> int | None:
    from hadpo_cli.console import err, print_json, print_metrics
    from hadpo_cli.judging.usage import describe

    if result.helper_process:
        return None  # another process of a multi-process describe: the main one reports
    print_metrics("SHR", result.metrics)
    if settings.no_judge:
        err.print(f"wrote {result.output_dir}/metrics.json (repetition only: --no-judge)")
    else:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(result.status_counts.items()))
        err.print(f"{describe(result.usage)}; {counts or 'nothing to judge'}")
        failed = unjudged_images(result)
        if failed:
            err.print(
                f"[yellow]warning:[/] {failed} image judgement(s) unjudged "
                f"({result.metrics.get('unjudged_sentences')} sentences; see judgement.json). "
                "Rerun to retry failed requests; raise --max-reasks to ask again about malformed replies. "
                "Exit status 1."
            )
        err.print(f"wrote {result.output_dir}/judgement.json, metrics.json, settings.json")
    if as_json:
        print_json(result.metrics)
    # Everything is written and the metrics count the gap, but a script (or `&& next step`)
    # must not mistake a partly judged run for a complete one.
    return 1 if unjudged_images(result) else None


# Short greedy descriptions keep the demo's SHR stage to seconds; a few sentences are enough to judge.
DEMO_MAX_NEW_TOKENS = 32


def demo_stage(ctx: Any) -> dict[str, Any]:
    """`hadpo eval shr` in the demo: the model describes the SHR images, and a local rule judge
    started here (no network, no key) labels every sentence through the real `openai` client.

    The same judge also runs on reference descriptions with one planted hallucination per image
    (``--responses``), and the stage fails unless exactly the planted sentences come back
    labelled hallucination.
    """
    from hadpo_cli.evaluation import shr
    from hadpo_cli.testing.local_judge import RULE_JUDGE_MODEL

    output_dir = ctx.stage_dir("eval_shr")
    common: dict[str, Any] = {
        "vg_path": ctx.data.vg,
        "shr_path": ctx.data.shr,
        "judge_model": RULE_JUDGE_MODEL,
        "retry_backoff": 0.1,
        "base_url": ctx.judge_url(),
    }
    described = shr.run(
        EvalShrSettings.build(
            {**common, **ctx.model_source(), "num_beams": 1, "max_new_tokens": ctx.demo_tokens,
             "output_dir": output_dir}
        )
    )  # fmt: skip
    results = [described]
    figures: dict[str, Any] = {}
    if not ctx.baseline:  # the judge's own check needs doing once
        reference_dir = ctx.stage_dir("eval_shr_reference")
        planted = _write_reference_responses(ctx, reference_dir / "reference_responses.json")
        reference = shr.run(
            EvalShrSettings.build(
                {
                    **common,
                    "responses": reference_dir / "reference_responses.json",
                    "output_dir": reference_dir,
                }
            )
        )
        results.append(reference)
        found = _hallucinated_sentences(reference_dir / shr.JUDGEMENT_FILE)
        if found != planted:
            raise RuntimeError(
                f"the local judge found {found} as hallucinations in the reference descriptions, "
                f"not the planted {planted} (see {reference_dir / shr.JUDGEMENT_FILE})"
            )
        figures["reference"] = (
            f"{len(planted)}/{len(planted)} planted hallucinations found, {reference.requests} requests"
        )
    for result in results:
        # The local judge never fails on purpose, so an image it did not judge is a bug to show.
        unjudged = {k: v for k, v in result.status_counts.items() if k not in (shr.JUDGED, shr.NO_SENTENCES)}
        if unjudged:
            raise RuntimeError(
                f"the local judge left images unjudged: {unjudged} (see {result.output_dir / shr.JUDGEMENT_FILE})"
            )
    ctx.outputs["shr"] = output_dir
    metrics = described.metrics
    ratio = metrics.get("hal_sents_ratio")
    return {
        "images": metrics["num_images"],
        "sentences/image": round(metrics["sents_per_image"], 2),
        "hal_sents_ratio": None if ratio is None else round(ratio, 3),
        "requests": described.requests,
        **figures,
    }


def _write_reference_responses(ctx: Any, path: Path) -> dict[str, list[str]]:
    """Each SHR image's true facts plus one sentence about an object that is not in it.

    Returns the planted sentence per image id, as the SHR sentence splitter will give it back.
    """
    from hadpo_cli.data.shr import load_shr_facts, load_shr_image_ids
    from hadpo_cli.io import atomic_write_json

    facts = load_shr_facts(ctx.data.shr)
    responses: dict[str, str] = {}
    planted: dict[str, list[str]] = {}
    for image_id in load_shr_image_ids(ctx.data.shr):
        said = " ".join(facts.get(image_id, []))
        sentence = f"There is also {ctx.world.a(ctx.world.absent_from(said))}"
        responses[str(image_id)] = f"{said} {sentence}.".lstrip()
        planted[str(image_id)] = [sentence]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, responses)
    return planted


def _hallucinated_sentences(judgement_file: Path) -> dict[str, list[str]]:
    from hadpo_cli.io import read_json

    images = read_json(judgement_file)["runs"][0]["images"]
    return {
        image_id: [s["sentence"] for s in image["sentences"] if s["label"] == "hallucination"]
        for image_id, image in images.items()
    }


register(
    Benchmark(
        name="shr",
        summary="Describe images and judge each sentence (SHR).",
        settings=EvalShrSettings,
        run=run,
        show=show,
        docs="docs/eval-shr.md",
        demo_stage=demo_stage,
        demo_baseline=True,
        order=1,
    )
)
