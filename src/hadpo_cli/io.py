"""JSON / JSON Lines reading with file:line errors, and atomic writes.

Every reader raises :class:`UserError` naming the file (and line) on bad input, so the CLI
can print one line and exit 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from hadpo_cli.errors import UserError, where

STDIN = "-"


@contextlib.contextmanager
def open_text(path: str | Path) -> Iterator[TextIO]:
    """Open a text file for reading; ``-`` is standard input."""
    if str(path) == STDIN:
        yield sys.stdin
        return
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: file not found")
    if p.is_dir():
        raise UserError(f"{p}: is a directory, expected a file")
    try:
        # utf-8-sig: files saved by some Windows editors start with a byte-order mark
        with p.open(encoding="utf-8-sig") as fh:
            yield fh
    except UnicodeDecodeError as exc:
        raise UserError(f"{p}: not UTF-8 text ({exc.reason})") from None


def display_name(path: str | Path) -> str:
    return "<stdin>" if str(path) == STDIN else str(path)


# POPE's label files end in .json but are JSON Lines; a file written as one array is the
# usual mistake, so say what is expected.
JSONL_HINT = "; expected JSON Lines: one object per line, no enclosing [ ]"


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, object)`` for each non-blank line; 1-based line numbers."""
    name = display_name(path)
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                hint = JSONL_HINT if line.lstrip().startswith("[") else ""
                raise UserError(f"{where(name, lineno)}: not valid JSON ({exc.msg}){hint}") from None
            except RecursionError:
                raise UserError(f"{where(name, lineno)}: JSON nested too deeply") from None
            if isinstance(obj, list) and lineno == 1:
                raise UserError(f"{where(name, lineno)}: a JSON array{JSONL_HINT}")
            yield lineno, obj


def read_jsonl(path: str | Path) -> list[tuple[int, Any]]:
    rows = list(iter_jsonl(path))
    if not rows:
        raise UserError(f"{display_name(path)}: file is empty")
    return rows


class _DuplicateKey(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def read_json(path: str | Path, *, unique_keys: bool = False) -> Any:
    """Read a whole JSON document; errors name the line and column. ``unique_keys``: a key given
    twice in one object is an error (JSON itself keeps the last one, silently)."""
    name = display_name(path)
    with open_text(path) as fh:
        text = fh.read()
    if not text.strip():
        raise UserError(f"{name}: file is empty")
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs if unique_keys else None)
    except _DuplicateKey as exc:
        raise UserError(f"{name}: key {exc.args[0]!r} appears twice in one object") from None
    except RecursionError:
        raise UserError(f"{name}: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{where(name, exc.lineno)}: not valid JSON ({exc.msg}, column {exc.colno})"
        ) from None


def require_dict(obj: Any, path: str | Path, line: int | None, what: str = "a JSON object") -> dict:
    if not isinstance(obj, dict):
        raise UserError(f"{where(display_name(path), line)}: expected {what}, got {type(obj).__name__}")
    return obj


def require_field(obj: dict, key: str, path: str | Path, line: int | None, ident: Any = None) -> Any:
    if key not in obj:
        extra = f" (id {ident})" if ident is not None else ""
        raise UserError(f"{where(display_name(path), line)}: missing field {key!r}{extra}")
    return obj[key]


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` so that ``path`` holds either the old content or all of the new."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_umask() -> int:
    """Once, at import (single-threaded then): setting the umask to read it is process-wide."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def check_writable(path: str | Path, flag: str, *, is_dir: bool = False) -> None:
    """Up front, before any model loads: can ``path`` (a file, or with ``is_dir`` a directory) be
    created or written? A path under a regular file, or in a read-only place, is found now
    rather than at the first checkpoint or the last write of a long run."""
    target = Path(path).expanduser()
    if target.exists():
        if is_dir and not target.is_dir():
            raise UserError(f"{flag} {path}: exists and is not a directory")
        if not is_dir and target.is_dir():
            raise UserError(f"{flag} {path}: is a directory; give a file name")
        if not os.access(target, os.W_OK):
            raise UserError(f"{flag} {path}: not writable")
        return
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"{flag} {path}: {ancestor} is a file, so nothing can be created under it")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: cannot create it ({ancestor} is not writable)")


def refuse_nonempty_dir(final: str | Path, *, overwrite: bool) -> None:
    final = Path(final)
    if final.exists() and (not final.is_dir() or any(final.iterdir())) and not overwrite:
        raise UserError(f"{final}: already exists and is not empty (pass --overwrite to replace it)")


@contextlib.contextmanager
def atomic_dir(final: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces ``final`` in one rename.

    On any failure the temporary directory is removed and ``final`` is untouched.
    """
    final = Path(final)
    refuse_nonempty_dir(final, overwrite=overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    tmp.chmod(0o777 & ~_UMASK)  # mkdtemp makes 0700: a merged model must be loadable by others
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


class JsonlAppender:
    """Append one complete JSON line at a time, flushed, so a crash loses at most one line.

    On open, a trailing partial line (from a crash mid-write) is cut off.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _truncate_partial_last_line(self.path)
        self._fh = self.path.open("a", encoding="utf-8")

    def write(self, obj: Any) -> None:
        self._fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _truncate_partial_last_line(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        data = fh.read()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        fh.truncate(cut)


def iter_appended_jsonl(path: str | Path, *, fix: str) -> Iterator[tuple[int, Any]]:
    """``(line number, object)`` for the complete lines of a file this tool appends to (see
    :class:`JsonlAppender`); a torn last line (crash mid-write) is ignored. A line that is not
    JSON is a UserError naming file and line; ``fix`` says what the user can do about it."""
    p = Path(path)
    if not p.exists():
        return
    try:
        with p.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.endswith("\n"):
                    return
                if not line.strip():
                    continue
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{where(p, lineno)}: not valid JSON ({exc.msg}); {fix}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{p}: not UTF-8 text ({exc.reason}); {fix}") from None


@contextlib.contextmanager
def exclusive_lock(path: str | Path, what: str) -> Iterator[None]:
    """Hold an advisory lock on ``path`` for the block; a second holder gets a UserError.

    Two runs appending to the same results (a rerun started while a killed job's workers still
    run) would interleave and delete each other's part files. The lock file is removed on
    release, so a run that failed early leaves no new, empty folder behind.
    """
    import fcntl

    p = Path(path)
    made_parent = not p.parent.exists()
    p.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(5):
        fh = p.open("a")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise UserError(
                f"{what}: another hadpo run is writing it now (lock {p}); wait for it or stop it"
            ) from None
        # The holder before us may have removed the file between our open and our lock: then we
        # hold a lock on a file nobody else can see. Start over on the file that is there now.
        try:
            same = os.fstat(fh.fileno()).st_ino == os.stat(p).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        fh.close()
    else:
        raise UserError(f"{what}: could not take the lock {p}")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            p.unlink()
        if made_parent:
            with contextlib.suppress(OSError):
                p.parent.rmdir()  # only succeeds when empty
        fh.close()
