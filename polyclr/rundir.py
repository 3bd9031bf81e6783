"""Run directories: atomic writes, ``metrics.json``, ``config.yaml`` and the environment record."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

_PACKAGES = (
    "polyclr", "torch", "torchaudio", "lightning", "monai", "nibabel", "numpy", "scikit-learn",
    "tsai", "aeon", "sentence-transformers", "pandas",
)


_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")  # Lightning's order


def global_rank() -> int:
    """Global rank of this process: the one Lightning keeps in ``rank_zero_only.rank`` (set by
    the strategy) once Lightning is loaded, before that the environment variables it reads at
    import (so the first progress line needs no torch / Lightning import)."""
    mod = sys.modules.get("lightning.fabric.utilities.rank_zero")
    if mod is not None:
        return int(getattr(mod.rank_zero_only, "rank", 0) or 0)
    for key in _RANK_VARIABLES:
        value = os.environ.get(key)
        if value is not None:
            return int(value)
    return 0


def is_rank_zero() -> bool:
    """True in the process that writes files: global rank 0 under DDP / torchrun / SLURM, and
    any single process (see :func:`global_rank`)."""
    return global_rank() == 0


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, rename.

    Under DDP only global rank zero writes (every rank runs the same code; the others return the
    path unwritten). A rank that then reads the file waits at ``polyclr.engine.dist.barrier``.
    """
    path = Path(path)
    if not is_rank_zero():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Atomically write UTF-8 text (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: str | Path, data: Any) -> Path:
    """Atomically write JSON (NaN/Inf become null, numpy scalars become numbers)."""
    return atomic_write_text(path, json.dumps(_json_safe(data), indent=2, sort_keys=False) + "\n")


def write_yaml(path: str | Path, data: Any) -> Path:
    """Atomically write YAML."""
    return atomic_write_text(path, yaml.safe_dump(_json_safe(data), sort_keys=False))


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The current git commit of the polyclr source tree, if it is a git checkout, with
    ``-dirty`` appended when tracked files differ from it (as ``git describe --dirty`` does), so
    that a result produced by uncommitted code does not claim a commit it did not run. Results
    and documents (``benchmarks/results/``, Markdown) do not count: benchmarks rewrite them."""
    here = Path(cwd) if cwd else Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if out.returncode != 0 or not out.stdout.strip():
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
             ":(exclude)benchmarks/results", ":(exclude)*.md"],
            cwd=here, capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = status.returncode == 0 and bool(status.stdout.strip())
    return out.stdout.strip() + ("-dirty" if dirty else "")


def environment_record(seed: int | None = None) -> dict[str, Any]:
    """Commit, package versions, machine and seed: what a run needs to be reproduced."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import torch

    return {
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": machine_description(),
        "cuda_available": torch.cuda.is_available(),
        "packages": versions,
        "seed": seed,
    }


def thread_count() -> int:
    """Intra-op threads torch uses in this process (what a benchmark row records as ``threads``)."""
    import torch

    return int(torch.get_num_threads())


def machine_description() -> str:
    """Short description of this machine: CPU model and cores, GPU if any."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    desc = f"{cpu}, {os.cpu_count()} cores"
    if torch.cuda.is_available():
        desc += f", GPU {torch.cuda.get_device_name(0)}"
    return desc


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Atomically write a list of row dicts as CSV (columns: union of keys, first-seen order)."""
    import csv
    import io

    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


class StageMarkers:
    """Done markers of a resumable run: ``out/stages/<key>.json`` holds a finished stage's result.

    A stage (a pre-training strategy, one fine-tune) writes its marker after its outputs; a
    resumed run (``resume=True``) takes the stored result instead of running the stage again.
    Results go through JSON in both cases (NaN kept), so an uninterrupted run and a resumed one
    hand identical values to what follows.
    """

    def __init__(self, out: str | Path | None, resume: bool = False) -> None:
        self.root = None if out is None else Path(out) / "stages"
        self.resume = resume

    def _path(self, key: str) -> Path:
        assert self.root is not None
        safe = "".join(c if c.isalnum() or c in "._=-" else "_" for c in key)
        return self.root / f"{safe}.json"

    def log_dir(self, key: str) -> Path | None:
        """Where stage ``key`` logs its training curve: ``out/logs/<key>`` (None without out)."""
        return None if self.root is None else self.root.parent / "logs" / self._path(key).stem

    def get(self, key: str) -> Any | None:
        """The stored result of ``key`` when resuming and its marker exists, else ``None``."""
        if self.root is None or not self.resume:
            return None
        path = self._path(key)
        return json.loads(path.read_text()) if path.is_file() else None

    def put(self, key: str, value: Any) -> Any:
        """Store ``value`` as the result of ``key``; returns it as read back from JSON."""
        text = json.dumps(value, default=_json_default)
        if self.root is not None:
            atomic_write_text(self._path(key), text)
        return json.loads(text)

    def run(self, key: str, fn: Any) -> Any:
        """``fn()``'s result for stage ``key``, from its marker when resuming."""
        done = self.get(key)
        return done if done is not None else self.put(key, fn())


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# settings that may change between an interrupted run and its resumption (where and how it
# runs, not what it computes)
RESUME_FREE_KEYS = ("engine.devices", "engine.num_nodes", "engine.accelerator", "engine.strategy",
                    "engine.num_workers", "engine.progress_bar", "engine.logger")


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two configs (ignoring :data:`RESUME_FREE_KEYS`)."""
    a, b = _flatten(_json_safe(old)), _flatten(_json_safe(new))
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and k not in RESUME_FREE_KEYS)
