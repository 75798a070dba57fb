"""Batched, sharded, resumable generation: one answer per (key, image, prompt) request.

Shared by every evaluation that asks a vision-language model about images (POPE answers,
SHR descriptions). How it works, and why:

* Results are appended, one complete flushed JSON line at a time, to a *part file* per
  process (``<output>.part-<rank>``), so a crash or Ctrl-C loses at most the batch in flight.
* A rerun reads the finished file and every part file, skips the keys already there, and
  splits only the rest across the processes. Nothing is loaded when nothing is left.
* After a barrier the main process gathers everything into ``output`` (atomically, in the
  order the requests were given, each key once) and removes the part files. The file is
  therefore identical whatever the number of processes or the batch size.

Only :func:`generate_all` touches the distributed state; the other functions are pure and
tested on their own.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from hadpo_cli.errors import UserError, where
from hadpo_cli.io import JsonlAppender, atomic_write_text, exclusive_lock, iter_appended_jsonl

if TYPE_CHECKING:
    from rich.progress import Progress, Task
    from rich.text import Text

    from hadpo_cli.models.loading import LoadedVLM

T = TypeVar("T")
PART_SUFFIX = ".part-"


# -- what to generate ----------------------------------------------------------------------------
@dataclass(frozen=True)
class GenerationRequest:
    """One thing to generate: ``key`` is unique in a run and is what a rerun recognises.

    ``fields`` are extra values copied into the output record (e.g. the POPE label).
    """

    key: str | int
    image: Path
    prompt: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationOptions:
    """Deterministic decoding: beam search (or greedy with one beam), never sampling."""

    num_beams: int = 5
    max_new_tokens: int = 16
    batch_size: int = 8
    # The published runs used LAVIS' generate defaults: repetition penalty 1.5 on the tokens
    # generated so far, and at least one new token.
    repetition_penalty: float = 1.5
    min_new_tokens: int = 1
    autocast: str | None = None  # "fp16": generate under fp16 autocast (the published precision)


@dataclass(frozen=True)
class GenerationResult:
    output: Path
    total: int  # requests in this run
    generated: int  # answered by this invocation, over all processes
    seconds: float  # generation time on this process, model loading excluded
    load_seconds: float  # model loading on this process (0 when nothing was left to do)

    @property
    def reused(self) -> int:
        """Found already answered (resume)."""
        return self.total - self.generated


class BatchGenerator(Protocol):
    """Turns a batch of (image, prompt) into one text each, in order."""

    def __call__(self, images: list[Any], prompts: list[str]) -> list[str]: ...


RecordMaker = Callable[[GenerationRequest, str], dict[str, Any]]


def key_of(value: object) -> str:
    """Keys compare as strings: a label file's 12 and an answers file's "12" are one question."""
    return str(value)


def default_record(key_field: str, text_field: str) -> RecordMaker:
    """``{key_field: key, **fields, text_field: text}``."""

    def make(request: GenerationRequest, text: str) -> dict[str, Any]:
        return {key_field: request.key, **request.fields, text_field: text}

    return make


# -- processes -----------------------------------------------------------------------------------
def _no_barrier() -> None:
    return None


@dataclass(frozen=True)
class Dist:
    """This process's place among the processes of a run (one, by default)."""

    rank: int = 0
    world: int = 1
    device: Any = None
    barrier: Callable[[], None] = _no_barrier

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_dist() -> Dist:
    """The processes started by ``accelerate launch`` / ``torchrun`` (or just this one)."""
    import torch
    from accelerate import PartialState

    # Without cpu=True, PartialState on a CPU-only machine ignores torchrun's environment and
    # every process believes it is alone (see DESIGN pitfalls).
    state = PartialState(cpu=not torch.cuda.is_available())
    return Dist(
        rank=state.process_index,
        world=state.num_processes,
        device=state.device,
        barrier=state.wait_for_everyone,
    )


def shard(items: Sequence[T], rank: int, world: int) -> list[T]:
    """Every ``world``-th item from ``rank``: the shards are disjoint, cover everything, and differ
    in size by at most one."""
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not in [0, {world})")
    return list(items[rank::world])


def batches(items: Sequence[T], batch_size: int) -> list[list[T]]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [list(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]


def by_prompt_length(requests: Sequence[GenerationRequest]) -> list[GenerationRequest]:
    """Longest prompts first: rows of a batch then need little padding, and the biggest batch
    (the one that could run out of memory) comes first. Answers do not depend on it."""
    return sorted(requests, key=lambda r: -len(r.prompt))


# -- files ---------------------------------------------------------------------------------------
def part_path(output: Path, rank: int) -> Path:
    return output.with_name(f"{output.name}{PART_SUFFIX}{rank}")


def part_files(output: Path) -> list[Path]:
    """Part files of ``output`` left by any earlier run, whatever its number of processes."""
    if not output.parent.is_dir():
        return []
    prefix = output.name + PART_SUFFIX
    found = [
        p for p in output.parent.iterdir() if p.name.startswith(prefix) and p.name[len(prefix) :].isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name[len(prefix) :]))


def read_records(path: Path, key_field: str) -> list[dict[str, Any]]:
    """Complete lines of a file this engine wrote; a torn last line (crash mid-write) is ignored."""
    out: list[dict[str, Any]] = []
    for lineno, record in iter_appended_jsonl(path, fix="delete the file to start over"):
        if not isinstance(record, dict) or key_field not in record:
            raise UserError(
                f"{where(path, lineno)}: no {key_field!r} field: not a results file of this command"
                " (pass another --output)"
            )
        out.append(record)
    return out


def read_done(output: Path, key_field: str) -> dict[str, dict[str, Any]]:
    """Every finished record, from ``output`` and its part files, by key; the first copy wins
    (a crash between gathering and removing the parts leaves two equal ones)."""
    done: dict[str, dict[str, Any]] = {}
    for path in [output, *part_files(output)]:
        for record in read_records(path, key_field):
            done.setdefault(key_of(record[key_field]), record)
    return done


def pending(requests: Sequence[GenerationRequest], done: Mapping[str, object]) -> list[GenerationRequest]:
    """The requests not answered yet, in the order given."""
    return [r for r in requests if key_of(r.key) not in done]


def check_unique_keys(requests: Sequence[GenerationRequest]) -> None:
    seen: set[str] = set()
    for request in requests:
        key = key_of(request.key)
        if key in seen:
            raise ValueError(f"duplicate request key {request.key!r}")
        seen.add(key)


def check_no_foreign(
    done: Mapping[str, Mapping[str, Any]], requests: Sequence[GenerationRequest], output: Path, key_field: str
) -> None:
    """Refuse to mix in results for keys this run does not ask about: the output file most
    likely belongs to another question set, and merging would corrupt both."""
    wanted = {key_of(r.key) for r in requests}
    foreign = [k for k in done if k not in wanted]
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise UserError(
            f"{output}: holds {key_field} {done[foreign[0]][key_field]!r}{more}, which this run does not ask about;"
            " it belongs to another question set: pass another --output or delete it"
        )


def check_same_fields(
    done: Mapping[str, Mapping[str, Any]], requests: Sequence[GenerationRequest], output: Path, key_field: str
) -> None:
    """Refuse records whose copied fields (image, question, label, ...) differ from this run's
    request with the same key: question ids restart at 1 in every POPE split, so an answers
    file of another split would otherwise pass as already answered."""
    for request in requests:
        record = done.get(key_of(request.key))
        if record is None:
            continue
        for name, value in request.fields.items():
            if record.get(name, _MISSING) != value:
                found = record.get(name, "nothing")
                raise UserError(
                    f"{output}: {key_field} {request.key!r} has {name} {found!r} there but {value!r} in this run:"
                    " the file belongs to another question set (another split?): pass another --output"
                )


_MISSING = object()


def in_request_order(
    requests: Sequence[GenerationRequest], done: Mapping[str, Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """One record per request, in request order (``done`` as :func:`read_done` returns it).

    Raises ``ValueError`` if a request has no record (a process did not finish its share).
    """
    missing = [r.key for r in requests if key_of(r.key) not in done]
    if missing:
        raise ValueError(f"{len(missing)} request(s) have no result, first {missing[0]!r}")
    return [done[key_of(r.key)] for r in requests]


def gather(output: Path, requests: Sequence[GenerationRequest], key_field: str) -> None:
    """Write ``output`` from itself and its part files, then remove the part files.

    The write is atomic and comes before the removal, so at every instant each answer is on
    disk at least once.
    """
    parts = part_files(output)
    ordered = in_request_order(requests, read_done(output, key_field))
    atomic_write_text(output, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered))
    for part in parts:
        part.unlink(missing_ok=True)


def count_lines(path: Path) -> int:
    """Complete lines in ``path`` (0 if absent): how far a process has got, seen from outside."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# -- images --------------------------------------------------------------------------------------
def prefetched(
    groups: Sequence[list[GenerationRequest]],
    load: Callable[[Path], Any],
    *,
    workers: int = 4,
    ahead: int = 2,
) -> Iterator[tuple[list[GenerationRequest], list[Any]]]:
    """Yield each batch with its decoded images, decoding the next ``ahead`` batches in threads
    while the model works on this one (JPEG decoding releases the GIL)."""
    if not groups:
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hadpo-images") as pool:
        queue: deque[tuple[list[GenerationRequest], list[Future[Any]]]] = deque()
        upcoming = iter(groups)

        def submit_next() -> None:
            group = next(upcoming, None)
            if group is not None:
                queue.append((group, [pool.submit(load, r.image) for r in group]))

        for _ in range(ahead + 1):
            submit_next()
        while queue:
            group, futures = queue.popleft()
            submit_next()
            yield group, [f.result() for f in futures]


def _compose(outer: Callable[[Any], Any], inner: Callable[[Path], Any]) -> Callable[[Path], Any]:
    return lambda path: outer(inner(path))


# -- the model -----------------------------------------------------------------------------------
class VLMGenerator:
    """:class:`BatchGenerator` over a loaded VLM: left-padded batch, deterministic decoding."""

    def __init__(self, loaded: LoadedVLM, options: GenerationOptions):
        self.loaded = loaded
        self.options = options
        self.device = next(loaded.model.parameters()).device
        self.dtype = loaded.family.image_dtype()  # pixels go to the image side first
        tokenizer = loaded.family.tokenizer
        config_pad = getattr(loaded.model.generation_config, "pad_token_id", None)
        # Without a pad id, generate() pads finished rows with EOS and warns on every batch.
        pad = config_pad if config_pad is not None else tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else tokenizer.eos_token_id

    def prepare_image(self, image: Any) -> Any:
        """PIL image -> the model's pixel tensor; thread-safe, so it runs while the model works."""
        return self.loaded.family.pixel_values([image])[0]

    def __call__(self, images: list[Any], prompts: list[str]) -> list[str]:
        import torch

        inputs = self.loaded.family.generation_inputs(images, prompts)
        pixels = inputs.pop("pixel_values").to(self.device, self.dtype)
        inputs = {k: v.to(self.device) for k, v in inputs.items()} | {"pixel_values": pixels}
        from transformers import LogitsProcessorList

        processors = LogitsProcessorList()
        if self.options.repetition_penalty != 1.0:
            processors.append(
                NewTokenRepetitionPenalty(self.options.repetition_penalty, inputs["input_ids"].shape[1])
            )
        autocast = (
            torch.autocast(self.device.type, dtype=torch.float16)
            if self.options.autocast == "fp16"
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            out = self.loaded.model.generate(
                **inputs,
                do_sample=False,
                num_beams=self.options.num_beams,
                max_new_tokens=self.options.max_new_tokens,
                min_new_tokens=self.options.min_new_tokens,
                pad_token_id=self.pad_token_id,
                logits_processor=processors,
            )
        # transformers 5 returns the prompt ids followed by the new ones.
        new_ids = out[:, inputs["input_ids"].shape[1] :]
        texts = self.loaded.family.tokenizer.batch_decode(new_ids, skip_special_tokens=True)
        return [t.strip() for t in texts]


class NewTokenRepetitionPenalty:
    """transformers' repetition penalty, applied to the generated tokens only.

    InstructBLIP's ``generate`` hands the language model the prompt ids (image placeholders
    and question) as well, so the stock processor would also penalise every prompt token.
    The published runs (LAVIS, embeddings only) penalised just what had been generated.
    """

    def __init__(self, penalty: float, prompt_length: int):
        if penalty <= 0:
            raise ValueError(f"repetition penalty must be > 0, got {penalty}")
        self.penalty = penalty
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        new = input_ids[:, self.prompt_length :]
        if new.shape[1] == 0:
            return scores
        picked = torch.gather(scores, 1, new)
        picked = torch.where(picked < 0, picked * self.penalty, picked / self.penalty)
        return scores.scatter(1, new, picked)


# -- progress ------------------------------------------------------------------------------------
def _rate_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("-- it/s" if speed is None else f"{speed:.2f} it/s")

    return RateColumn()


def _make_progress(enabled: bool) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hadpo_cli.console import err

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _rate_column(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        disable=not enabled,
    )


class _GlobalCounter:
    """Progress of all processes, read from the length of their part files (no collectives)."""

    def __init__(self, output: Path, world: int):
        self.paths = [part_path(output, rank) for rank in range(world)]
        self.start = sum(count_lines(p) for p in self.paths)

    def done(self) -> int:
        return sum(count_lines(p) for p in self.paths) - self.start


# -- the engine ----------------------------------------------------------------------------------
def generate_all(
    requests: Sequence[GenerationRequest],
    output: str | Path,
    *,
    load_generator: Callable[[], BatchGenerator],
    options: GenerationOptions,
    key_field: str = "key",
    make_record: RecordMaker | None = None,
    dist: Dist | None = None,
    image_loader: Callable[[Path], Any] | None = None,
    show_progress: bool = True,
    description: str = "generating",
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> GenerationResult:
    """Answer every request not answered in ``output`` yet, then write ``output`` complete.

    ``image_loader`` (default: decode the file) lets a benchmark feed images from memory.
    ``load_generator`` is called at most once, and only by a process with work left (a rerun
    of a finished run loads no model). ``on_record`` sees each record right after it is
    flushed to disk; raising from it stops the run like a crash would (tests use this).
    Every process must call this with the same requests; all of them return the same result.
    """
    output = Path(output)
    dist = dist or Dist()
    make_record = make_record or default_record(key_field, "text")
    if image_loader is None:
        from hadpo_cli.data.images import load_image as image_loader
    check_unique_keys(requests)
    with exclusive_lock(output.parent / f".{output.name}.lock-{dist.rank}", str(output)):
        return _generate_locked(
            requests, output, load_generator=load_generator, options=options, key_field=key_field,
            make_record=make_record, dist=dist, image_loader=image_loader, show_progress=show_progress,
            description=description, on_record=on_record,
        )  # fmt: skip


def _generate_locked(
    requests: Sequence[GenerationRequest],
    output: Path,
    *,
    load_generator: Callable[[], BatchGenerator],
    options: GenerationOptions,
    key_field: str,
    make_record: RecordMaker,
    dist: Dist,
    image_loader: Callable[[Path], Any],
    show_progress: bool,
    description: str,
    on_record: Callable[[dict[str, Any]], None] | None,
) -> GenerationResult:
    done = read_done(output, key_field)
    check_no_foreign(done, requests, output, key_field)
    check_same_fields(done, requests, output, key_field)
    todo = pending(requests, done)
    show = show_progress and dist.is_main and bool(todo)
    # Only the main process shows a bar; with several processes it counts their part files.
    counter = _GlobalCounter(output, dist.world) if show and dist.world > 1 else None
    # Everyone has read the same state before anyone appends, so everyone shards the same list.
    dist.barrier()

    mine = by_prompt_length(shard(todo, dist.rank, dist.world))
    load_seconds = seconds = 0.0
    with _make_progress(show) as progress:
        task = progress.add_task(description, total=len(todo))
        if mine:
            started = time.perf_counter()
            generator = load_generator()
            load_seconds = time.perf_counter() - started
            started = time.perf_counter()
            with JsonlAppender(part_path(output, dist.rank)) as sink:
                # Decoding and preprocessing (resize, normalise) run in the prefetch threads,
                # so the main thread only feeds the accelerator.
                prepare = getattr(generator, "prepare_image", None)
                load = image_loader if prepare is None else _compose(prepare, image_loader)
                for group, images in prefetched(batches(mine, options.batch_size), load):
                    texts = generator(images, [r.prompt for r in group])
                    if len(texts) != len(group):
                        raise RuntimeError(f"generator returned {len(texts)} texts for {len(group)} prompts")
                    for request, text in zip(group, texts, strict=True):
                        record = make_record(request, text)
                        sink.write(record)
                        if on_record is not None:
                            on_record(record)
                    if counter is not None:
                        progress.update(task, completed=counter.done())
                    else:
                        progress.advance(task, len(group))
            seconds = time.perf_counter() - started
        if counter is not None:
            _follow_others(progress, task, counter, len(todo))
    dist.barrier()
    if dist.is_main:
        gather(output, requests, key_field)
    dist.barrier()
    return GenerationResult(
        output=output,
        total=len(requests),
        generated=len(todo),
        seconds=seconds,
        load_seconds=load_seconds,
    )


def _follow_others(
    progress: Progress, task: Any, counter: _GlobalCounter, total: int, stall_s: float = 600.0
) -> None:
    """Keep the main process's bar moving while the other processes finish their shares.

    Gives up (and falls through to the barrier) if nothing moved for ``stall_s``, so a bar
    never outlives a broken run.
    """
    last, last_change = -1, time.monotonic()
    while True:
        done = counter.done()
        progress.update(task, completed=done)
        if done >= total:
            return
        if done != last:
            last, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            return
        time.sleep(0.2)
