"""Precomputed reference log-probs: one pass before training, a file reused only by a run on
the same data and the same model weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hadpo_cli.console import err
from hadpo_cli.io import atomic_write_json

FILENAME = "ref_logps.json"


def file_digest(path: Path | None) -> str | None:
    if path is None:
        return None
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_identity(model_id: str, config: Any) -> dict[str, Any]:
    """What pins the weights: the Hub commit, or for a local dir its config and weight files
    (name, size, mtime: hashing 26 GB of weights would take minutes)."""
    out: dict[str, Any] = {"model": model_id, "commit": getattr(config, "_commit_hash", None)}
    folder = Path(model_id)
    if folder.is_dir():
        out["config"] = file_digest(folder / "config.json") if (folder / "config.json").is_file() else None
        out["weights"] = sorted(
            (p.name, p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.iterdir()
            if p.suffix in (".safetensors", ".bin") or p.name.endswith(".index.json")
        )
    return out


def pairs_digest(pairs: list[Any]) -> str:
    """The pairs themselves (text, image, order): a file written by a version of hadpo that drew
    or cleaned the description pairs differently must not be reused for the same input files."""
    h = hashlib.sha256()
    for pair in pairs:
        row = [str(pair.image_path), pair.image_id, pair.source, pair.prompt, pair.chosen, pair.rejected]
        h.update(json.dumps(row).encode())
    return h.hexdigest()


def fingerprint(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def load(output_dir: Path, expected: str) -> dict[int, tuple[float, float]] | None:
    path = Path(output_dir) / FILENAME
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if data.get("fingerprint") != expected:
        return None
    return {int(k): (float(v[0]), float(v[1])) for k, v in data["values"].items()}


def save(output_dir: Path, key: str, values: dict[int, tuple[float, float]]) -> Path:
    path = Path(output_dir) / FILENAME
    atomic_write_json(
        path, {"fingerprint": key, "values": {str(k): list(v) for k, v in sorted(values.items())}}
    )
    return path


def load_on_main(output_dir: Path, key: str, state: Any) -> dict[int, tuple[float, float]] | None:
    """The main process decides and tells the others, so a node-local output dir cannot have
    some processes reuse the file while others start a collective precompute (a hang)."""
    table = load(output_dir, key) if state.is_main_process else None
    if state.num_processes > 1:
        import torch.distributed as dist

        box = [table]
        dist.broadcast_object_list(box, src=0)
        table = box[0]
    return table


def precompute(
    dpo_model: Any, collator: Any, pairs: list[Any], batch_size: int, state: Any
) -> dict[int, tuple[float, float]]:
    """One no-grad pass, split across processes; a pair repeated in the mix is computed once.

    ``batch_size`` pairs per forward, and the training forward's autocast: the values are meant
    to be the ones the training forward would compute for the reference, bit for bit where the
    kernels allow. In bf16 and fp16 they do not across batch layouts: the fused attention kernel
    blocks over keys by the padded length, so a pair's log-prob moves (~1e-4 nats) with the
    length of its batch-mates. With the training's own pairs per forward of 1 (the published
    recipe) the layouts are the same and the step-0 rewards are exactly zero.
    """
    import torch
    from accelerate.utils import gather_object

    first: dict[Any, int] = {}
    for i, pair in enumerate(pairs):
        first.setdefault(pair, i)
    unique = sorted(set(first.values()))
    device = state.device
    dpo_model.to(device)
    dpo_model.eval()
    autocast = _training_autocast(dpo_model, device)
    with state.split_between_processes(unique) as mine:
        local: list[tuple[int, float, float]] = []
        for start in range(0, len(mine), batch_size):
            chunk = mine[start : start + batch_size]
            batch = collator([{"index": i} for i in chunk])
            batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
            with torch.no_grad(), autocast:
                ref_c, ref_r = dpo_model.reference_for_batch(batch)
            local.extend(zip(chunk, ref_c.float().tolist(), ref_r.float().tolist(), strict=True))
    merged = gather_object(local) if state.num_processes > 1 else local
    dpo_model.train()
    by_index = {int(i): (c, r) for i, c, r in merged}
    if state.is_main_process:
        err.print(f"reference log-probs precomputed for {len(unique)} distinct pairs")
    return {i: by_index[first[pair]] for i, pair in enumerate(pairs)}


def _training_autocast(dpo_model: Any, device: Any) -> Any:
    """The autocast the Trainer will wrap the training forward in: its mixed-precision flags
    come from the language model's weight dtype (see training/precision.py), so derive them the
    same way here rather than run the pass in a precision training never sees."""
    import torch

    from hadpo_cli.training.precision import trainer_precision

    weights = next(dpo_model.family.decoder(dpo_model.peft_model).parameters()).dtype
    device_type = torch.device(device).type
    flags = trainer_precision(weights, use_cpu=device_type == "cpu")
    if flags["bf16"]:
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if flags["fp16"]:
        return torch.autocast(device_type, dtype=torch.float16)
    return torch.autocast(device_type, enabled=False)
