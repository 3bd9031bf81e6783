"""Provenance: the commit recorded with results marks uncommitted changes."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from polyclr.rundir import git_commit

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


def _git(cwd, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_git_commit_marks_a_dirty_tree(tmp_path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    sha = _git(tmp_path, "rev-parse", "HEAD")
    assert git_commit(tmp_path) == sha
    (tmp_path / "new.txt").write_text("untracked files do not count\n")
    assert git_commit(tmp_path) == sha
    (tmp_path / "a.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == sha + "-dirty"


def test_git_commit_outside_a_checkout(tmp_path) -> None:
    assert git_commit(tmp_path) is None


def test_git_commit_ignores_results_and_documents(tmp_path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "r.csv").write_text("a\n1\n")
    (tmp_path / "README.md").write_text("# x\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    sha = _git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "benchmarks" / "results" / "r.csv").write_text("a\n2\n")
    (tmp_path / "README.md").write_text("# y\n")
    assert git_commit(tmp_path) == sha


def test_save_torch_atomic_round_trip_leaves_no_temporary(tmp_path):
    import torch

    from polyclr.engine import safe_torch_load, save_torch_atomic

    path = tmp_path / "objective.pt"
    save_torch_atomic({"w": torch.arange(3.0)}, path)
    save_torch_atomic({"w": torch.ones(2)}, path)  # overwrite in place
    assert torch.equal(safe_torch_load(path)["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["objective.pt"]
