"""Visual Genome: the image index (``image_data.json``) and region descriptions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hadpo_cli.errors import UserError, first_few
from hadpo_cli.io import read_json


@dataclass(frozen=True)
class VGImage:
    image_id: int
    path: Path
    width: int
    height: int


@dataclass(frozen=True)
class Region:
    x: float
    y: float
    width: float
    height: float
    phrase: str


def image_path_from_url(vg_path: Path, url: str) -> Path:
    """``.../VG_100K_2/12.jpg`` -> ``<vg>/VG_100K_2/12.jpg`` (the last two parts of the url)."""
    parts = url.rstrip("/").split("/")
    if len(parts) < 2:
        raise ValueError(url)
    return vg_path / parts[-2] / parts[-1]


def load_vg_images(vg_path: str | Path) -> dict[int, VGImage]:
    """Index ``<vg>/image_data.json`` by image id. Files are not opened here."""
    vg_path = Path(vg_path)
    index_file = vg_path / "image_data.json"
    if not vg_path.is_dir():
        raise UserError(f"{vg_path}: Visual Genome directory not found")
    data = read_json(index_file)
    if not isinstance(data, list):
        raise UserError(f"{index_file}: expected a JSON list of images")
    out: dict[int, VGImage] = {}
    for i, item in enumerate(data):
        try:
            image_id = int(item["image_id"])
            out[image_id] = VGImage(
                image_id=image_id,
                path=image_path_from_url(vg_path, str(item["url"])),
                width=int(item["width"]),
                height=int(item["height"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{index_file}: entry {i} is malformed ({exc!r})") from None
    return out


def load_vg_regions(vg_path: str | Path, image_ids: set[int] | None = None) -> dict[int, list[Region]]:
    """Region descriptions per image id, optionally only for ``image_ids`` (the file is large)."""
    path = Path(vg_path) / "region_descriptions.json"
    data = read_json(path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of {{'regions': [...]}} objects")
    out: dict[int, list[Region]] = {}
    for i, entry in enumerate(data):
        regions = entry.get("regions") if isinstance(entry, dict) else None
        if not isinstance(regions, list):
            raise UserError(f"{path}: entry {i} has no 'regions' list")
        for r in regions:
            try:
                image_id = int(r["image_id"])
                if image_ids is not None and image_id not in image_ids:
                    break  # every region of one entry belongs to the same image
                out.setdefault(image_id, []).append(
                    Region(
                        float(r["x"]), float(r["y"]), float(r["width"]), float(r["height"]), str(r["phrase"])
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise UserError(f"{path}: entry {i} has a malformed region ({exc!r})") from None
    return out


def missing_files(paths: list[Path]) -> list[Path]:
    return [p for p in paths if not p.is_file()]


def check_images_exist(paths: list[Path], what: str = "image") -> None:
    """One error counting the missing files, or the files that are not images (empty, or a
    header Pillow cannot read), naming the first few: before any model loads, not mid-run."""
    missing = missing_files(paths)
    if missing:
        raise UserError(f"{len(missing)} of {len(paths)} {what} files are missing: {first_few(missing)}")
    bad = not_images(paths)
    if bad:
        raise UserError(
            f"{len(bad)} of {len(paths)} {what} files are not images (empty, or not a format Pillow "
            f"reads): {first_few(bad)}"
        )


# Above this many files, the header check shows a progress bar (a few seconds on a real set).
PROGRESS_FROM = 2000


def not_images(paths: list[Path]) -> list[Path]:
    """The files among ``paths`` that are empty or whose header Pillow does not recognise; the
    headers are read in threads (I/O bound), the pixels not at all."""
    from concurrent.futures import ThreadPoolExecutor

    def bad(path: Path) -> bool:
        from PIL import Image, UnidentifiedImageError

        try:
            if path.stat().st_size == 0:
                return True
            with Image.open(path):
                return False
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(bad, paths)
        if len(paths) >= PROGRESS_FROM:
            from rich.progress import track

            from hadpo_cli.console import err

            results = track(
                results, total=len(paths), description="checking images", console=err, transient=True
            )
        flags = list(results)
    return [p for p, is_bad in zip(paths, flags, strict=True) if is_bad]
