"""``hadpo pairs``: flags -> PairsSettings -> pairs.run.run -> summary (stderr) / report JSON (stdout)."""

from __future__ import annotations

from hadpo_cli.cli.settings_command import settings_command
from hadpo_cli.settings.pairs import PairsSettings


def show(settings: PairsSettings, as_json: bool) -> int | None:
    from hadpo_cli.console import err, judge_progress_bar, print_json, print_metrics
    from hadpo_cli.judging.usage import describe
    from hadpo_cli.pairs.run import run

    with judge_progress_bar(enabled=not settings.no_judge, what="pairs") as on_progress:
        result = run(settings, on_progress=on_progress)
    if result.helper_process:
        return None
    report = result.report
    print_metrics("hadpo pairs", report, skip=("judge",))
    if report.get("judge"):
        err.print(describe(report["judge"]))
    if settings.no_judge:
        err.print(f"wrote {result.output_dir}/descriptions.json (--no-judge: no pairs)")
    else:
        err.print(
            f"wrote {result.output_dir}/desc_data.json ({report['desc_pairs']} pairs) and pope_data.json "
            f"({report['pope_pairs']} pairs); train on them with hadpo train --desc-data ... --pope-data ..."
        )
    if result.skipped:
        err.print(
            f"[yellow]warning:[/] {result.skipped} image(s) skipped (judge failures or unusable replies; see "
            "judgements.jsonl). Rerun to retry failed requests; raise --max-reasks for unusable replies. Exit status 1."
        )
    if as_json:
        print_json(report)
    return 1 if result.skipped else None


command = settings_command(PairsSettings, show)
