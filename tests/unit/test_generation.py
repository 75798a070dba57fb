"""The generation engine without a model: sharding, part files, resume, gathering, two processes
simulated with threads (the same barriers, the same files, no torch)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from hadpo_cli.errors import UserError
from hadpo_cli.evaluation.generation import (
    Dist,
    GenerationOptions,
    GenerationRequest,
    batches,
    by_prompt_length,
    gather,
    generate_all,
    in_request_order,
    part_files,
    part_path,
    pending,
    read_done,
    read_records,
    shard,
)

KEY = "question_id"


def make_requests(n: int) -> list[GenerationRequest]:
    # Prompts of varied length, so sorting by length really reorders them.
    return [
        GenerationRequest(
            key=i, image=Path(f"img{i % 3}.jpg"), prompt="q" * (1 + (7 * i) % 5), fields={"n": i}
        )
        for i in range(1, n + 1)
    ]


def echo(images: list[Path], prompts: list[str]) -> list[str]:
    """A stand-in model whose answer depends only on its own row."""
    return [f"{image.name}:{prompt}" for image, prompt in zip(images, prompts, strict=True)]


def run(requests, output, *, batch_size=3, dist=None, on_record=None, calls=None):
    def load():
        if calls is not None:
            calls.append(1)
        return echo

    return generate_all(
        requests,
        output,
        load_generator=load,
        options=GenerationOptions(num_beams=1, max_new_tokens=4, batch_size=batch_size),
        key_field=KEY,
        dist=dist,
        image_loader=lambda path: path,
        show_progress=False,
        on_record=on_record,
    )


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- pure pieces -----------------------------------------------------------------------------------
@pytest.mark.parametrize("n,world", [(0, 2), (1, 2), (7, 2), (10, 3), (5, 8)])
def test_shards_are_disjoint_cover_everything_and_balanced(n, world):
    items = list(range(n))
    shards = [shard(items, rank, world) for rank in range(world)]
    assert sorted(x for s in shards for x in s) == items
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_shard_refuses_a_rank_outside_the_world():
    with pytest.raises(ValueError):
        shard([1, 2], 2, 2)


def test_batches_keep_order_and_size():
    assert batches(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches([], 3) == []
    with pytest.raises(ValueError):
        batches([1], 0)


def test_longest_prompts_first_stably():
    reqs = [
        GenerationRequest(key=i, image=Path("x"), prompt=p) for i, p in enumerate(["a", "ccc", "bb", "ddd"])
    ]
    assert [r.key for r in by_prompt_length(reqs)] == [1, 3, 2, 0]


def test_pending_skips_done_keys_as_strings():
    reqs = make_requests(4)
    # An int key and its string form are one question.
    assert [r.key for r in pending(reqs, {"2": {}, "4": {}})] == [1, 3]


def test_read_records_ignores_a_torn_last_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"question_id": 1, "text": "a"}\n{"question_id": 2, "te', encoding="utf-8")
    assert read_records(path, KEY) == [{"question_id": 1, "text": "a"}]
    assert read_records(tmp_path / "absent.jsonl", KEY) == []


def test_read_records_refuses_a_foreign_file(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": 1}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"a\.jsonl:1: no 'question_id' field"):
        read_records(path, KEY)
    path.write_text("not json\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"a\.jsonl:1: not valid JSON"):
        read_records(path, KEY)


def test_part_files_of_any_earlier_world_size(tmp_path):
    out = tmp_path / "answers.jsonl"
    for rank in (0, 1, 10):
        part_path(out, rank).write_text("", encoding="utf-8")
    (tmp_path / "answers.jsonl.part-x").write_text("", encoding="utf-8")  # not ours
    (tmp_path / "other.jsonl.part-0").write_text("", encoding="utf-8")
    assert [p.name for p in part_files(out)] == [f"answers.jsonl.part-{r}" for r in (0, 1, 10)]


def test_read_done_unions_final_and_parts_first_copy_wins(tmp_path):
    out = tmp_path / "answers.jsonl"
    out.write_text('{"question_id": 1, "text": "final"}\n', encoding="utf-8")
    part_path(out, 0).write_text('{"question_id": 1, "text": "part"}\n{"question_id": 2, "text": "b"}\n')
    part_path(out, 3).write_text('{"question_id": "3", "text": "c"}\n')
    done = read_done(out, KEY)
    assert set(done) == {"1", "2", "3"} and done["1"]["text"] == "final"


def test_records_come_back_in_request_order_and_a_missing_one_is_an_error():
    reqs = make_requests(3)
    done = {"3": {KEY: 3, "t": "c"}, "1": {KEY: 1, "t": "a"}, "2": {KEY: 2, "t": "b"}}
    assert [r["t"] for r in in_request_order(reqs, done)] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="no result"):
        in_request_order(reqs, {k: done[k] for k in ("3", "1")})


def test_gather_writes_request_order_and_removes_parts(tmp_path):
    out = tmp_path / "answers.jsonl"
    reqs = make_requests(4)
    part_path(out, 0).write_text('{"question_id": 3, "t": 3}\n{"question_id": 1, "t": 1}\n')
    part_path(out, 1).write_text('{"question_id": 4, "t": 4}\n{"question_id": 2, "t": 2}\n{"question_id": 9')
    gather(out, reqs, KEY)
    assert [r[KEY] for r in lines(out)] == [1, 2, 3, 4]
    assert part_files(out) == []


# -- the engine, one process -----------------------------------------------------------------------
def test_output_is_complete_in_request_order_whatever_the_batch_size(tmp_path):
    reqs = make_requests(11)
    outputs = []
    for batch_size in (1, 4, 32):
        out = tmp_path / f"b{batch_size}.jsonl"
        result = run(reqs, out, batch_size=batch_size)
        assert (result.total, result.generated, result.reused) == (11, 11, 0)
        outputs.append(out.read_text(encoding="utf-8"))
        assert not part_files(out)
    assert outputs[0] == outputs[1] == outputs[2]
    first = lines(tmp_path / "b1.jsonl")[0]
    assert first == {KEY: 1, "n": 1, "text": "img1.jpg:" + reqs[0].prompt}


def test_crash_then_resume_answers_each_key_once_and_only_the_missing(tmp_path):
    reqs = make_requests(10)
    reference = tmp_path / "reference.jsonl"
    run(reqs, reference)
    out = tmp_path / "answers.jsonl"

    def crash_after_four(record, seen=[]):  # noqa: B006 - a counter that lives across calls
        seen.append(record)
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(reqs, out, on_record=crash_after_four)
    assert not out.exists() and len(read_records(part_path(out, 0), KEY)) == 4
    # A crash mid-write leaves a torn line: it must be dropped, not half-read.
    with part_path(out, 0).open("a", encoding="utf-8") as fh:
        fh.write('{"question_id": 99, "text": "tor')

    answered: list[dict] = []
    result = run(reqs, out, on_record=answered.append)
    assert (result.generated, result.reused) == (6, 4) and len(answered) == 6
    assert out.read_text(encoding="utf-8") == reference.read_text(encoding="utf-8")
    assert not part_files(out)


def test_finished_rerun_loads_nothing(tmp_path):
    reqs = make_requests(5)
    out = tmp_path / "answers.jsonl"
    run(reqs, out)
    before = out.read_text(encoding="utf-8")
    calls: list[int] = []
    result = run(reqs, out, calls=calls)
    assert calls == [] and (result.generated, result.reused) == (0, 5)
    assert out.read_text(encoding="utf-8") == before


def test_results_for_another_question_set_are_refused(tmp_path):
    out = tmp_path / "answers.jsonl"
    run(make_requests(5), out)
    with pytest.raises(
        UserError, match=r"holds question_id 4 \(and 1 more\), which this run does not ask about"
    ):
        run(make_requests(3), out)


def test_duplicate_keys_are_a_bug():
    reqs = make_requests(2) + make_requests(1)
    with pytest.raises(ValueError, match="duplicate"):
        run(reqs, Path("unused.jsonl"))


# -- the engine, two processes (threads sharing barriers) -------------------------------------------
def run_world(reqs, out, world: int, batch_size: int = 2) -> list[object]:
    barrier = threading.Barrier(world)
    results: list[object] = [None] * world

    def worker(rank: int) -> None:
        try:
            dist = Dist(rank=rank, world=world, barrier=lambda: barrier.wait(timeout=30))
            results[rank] = run(reqs, out, batch_size=batch_size, dist=dist)
        except BaseException as exc:  # surfaced below, not lost in the thread
            barrier.abort()
            results[rank] = exc

    threads = [threading.Thread(target=worker, args=(rank,)) for rank in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


@pytest.mark.parametrize("world", [2, 3])
def test_several_processes_write_the_single_process_file(tmp_path, world):
    reqs = make_requests(13)
    single = tmp_path / "single.jsonl"
    run(reqs, single)
    out = tmp_path / "multi.jsonl"
    results = run_world(reqs, out, world)
    assert out.read_text(encoding="utf-8") == single.read_text(encoding="utf-8")
    assert all(r.generated == 13 for r in results)
    assert not part_files(out)


def test_resume_with_another_number_of_processes(tmp_path):
    reqs = make_requests(9)
    single = tmp_path / "single.jsonl"
    run(reqs, single)
    out = tmp_path / "answers.jsonl"
    # What a crashed 3-process run leaves: three part files, one of them torn.
    part_path(out, 0).write_text(json.dumps({KEY: 1, "n": 1, "text": lines(single)[0]["text"]}) + "\n")
    part_path(out, 2).write_text(json.dumps(lines(single)[4]) + "\n" + '{"question_id": 7')
    results = run_world(reqs, out, 2)
    assert [r.generated for r in results] == [7, 7]
    assert out.read_text(encoding="utf-8") == single.read_text(encoding="utf-8")


def test_generator_image_preparation_runs_in_the_prefetch_threads(tmp_path):
    import threading

    seen_threads: list[str] = []

    class Preparing:
        def prepare_image(self, image: Path) -> str:
            seen_threads.append(threading.current_thread().name)
            return f"prepared-{image.name}"

        def __call__(self, images: list[str], prompts: list[str]) -> list[str]:
            assert all(im.startswith("prepared-") for im in images)
            return [f"{im}:{p}" for im, p in zip(images, prompts, strict=True)]

    requests = [GenerationRequest(key=i, image=tmp_path / f"{i}.jpg", prompt="q") for i in range(7)]
    generate_all(
        requests,
        tmp_path / "out.jsonl",
        load_generator=Preparing,
        options=GenerationOptions(num_beams=1, max_new_tokens=4, batch_size=3),
        key_field=KEY,
        image_loader=lambda path: path,
        show_progress=False,
    )
    assert len(seen_threads) == 7
    assert all(name.startswith("hadpo-images") for name in seen_threads)
    assert lines(tmp_path / "out.jsonl")[0]["text"] == "prepared-0.jpg:q"


def test_answers_of_another_question_set_with_the_same_ids_are_refused(tmp_path):
    out = tmp_path / "answers.jsonl"
    first = [
        GenerationRequest(key=i, image=tmp_path / f"{i}.jpg", prompt="q", fields={"question": f"a{i}"})
        for i in range(3)
    ]
    generate_all(first, out, load_generator=lambda: echo, options=GenerationOptions(batch_size=2), key_field=KEY,
                 image_loader=lambda p: p, show_progress=False)  # fmt: skip
    other = [
        GenerationRequest(key=i, image=tmp_path / f"{i}.jpg", prompt="q", fields={"question": f"b{i}"})
        for i in range(3)
    ]
    with pytest.raises(UserError, match="another question set"):
        generate_all(other, out, load_generator=lambda: echo, options=GenerationOptions(batch_size=2), key_field=KEY,
                     image_loader=lambda p: p, show_progress=False)  # fmt: skip


def test_a_second_run_on_the_same_output_is_refused_while_the_first_holds_it(tmp_path):
    from hadpo_cli.io import exclusive_lock

    out = tmp_path / "answers.jsonl"
    requests = [GenerationRequest(key=1, image=tmp_path / "1.jpg", prompt="q")]
    with exclusive_lock(tmp_path / ".answers.jsonl.lock-0", str(out)):
        with pytest.raises(UserError, match="another hadpo run is writing it"):
            generate_all(requests, out, load_generator=lambda: echo, options=GenerationOptions(), key_field=KEY,
                         image_loader=lambda p: p, show_progress=False)  # fmt: skip
    # once released, the same call goes through
    generate_all(requests, out, load_generator=lambda: echo, options=GenerationOptions(), key_field=KEY,
                 image_loader=lambda p: p, show_progress=False)  # fmt: skip
    assert lines(out)[0][KEY] == 1
