"""Where things live: the project root, run folders, atomic writes and links."""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def project_root() -> Path:
    """The kit's checkout: $SLAMS_ROOT, else the nearest folder above the working directory that has
    both `params/` and `slamslib/` (so notebooks opened from `notebooks/` resolve paths like the CLI),
    else the checkout this slamslib was installed from (`pip install -e`, as `make` does), else the
    working directory."""
    if os.environ.get("SLAMS_ROOT"):
        return Path(os.environ["SLAMS_ROOT"]).resolve()
    here = Path.cwd().resolve()
    installed_from = Path(__file__).resolve().parent.parent
    for folder in (*(here, *here.parents), installed_from):
        if (folder / "params").is_dir() and (folder / "slamslib").is_dir():
            return folder
    return here


def resolve(path: str | Path) -> Path:
    """A path from params or the command line: absolute as given, relative to the project root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path


@contextmanager
def atomic_path(target: str | Path):
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds,
    so a kill never leaves a half-written file that a later stage trusts."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Same suffix as the target: tools that check extensions (papermill, PIL) accept the temp file.
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{target.stem}-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str | Path, data) -> None:
    """Strict JSON (a NaN or infinity becomes null: other readers than Python's refuse NaN), atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(finite_or_none(data), indent=2, sort_keys=False, allow_nan=False) + "\n")


def finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value


def write_csv(table, path: str | Path, **kwargs) -> None:
    """A pandas table as CSV, written atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, float_format="%.4f", **kwargs)


def link_file(source: Path, target: Path) -> None:
    """target becomes source's content (a hard link where the file system allows), atomically."""
    if target.exists() and os.path.samefile(source, target):
        return      # renaming a link onto its own file is a no-op that would leave tmp behind
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-link-{target.name}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)
