"""A ``.ts`` case whose class label ``@classLabel`` does not declare is refused (check,
pretrain, run), naming the file, the 1-based case and the label; a declared set passes."""

from pathlib import Path

import numpy as np
import pytest

from polyclr.cli import main
from polyclr.errors import DataError
from polyclr.modalities.timeseries.io import load_dataset

LABELS = ["walk", "run", "jump"]


def _write(path: Path, labels: list[str], declared: str = "walk run jump") -> Path:
    rng = np.random.default_rng(0)
    head = ["@problemName toy", "@timeStamps false", "@univariate true", "@equalLength true",
            "@seriesLength 8", f"@classLabel true {declared}", "@data"]
    body = [",".join(f"{v:.3f}" for v in rng.normal(size=8)) + f":{lab}" for lab in labels]
    path.write_text("\n".join(head + body) + "\n", encoding="utf-8")
    return path


def _cases(bad_at: int | None, n: int = 12) -> list[str]:
    labels = [LABELS[i % 3] for i in range(n)]
    if bad_at is not None:
        labels[bad_at] = "swim"
    return labels


@pytest.mark.parametrize("bad_at", [0, 11])
def test_undeclared_label_refused(tmp_path, bad_at):
    p = _write(tmp_path / "toy.ts", _cases(bad_at))
    with pytest.raises(DataError, match=rf"toy\.ts: case {bad_at + 1} has class label 'swim'"):
        load_dataset(p)


def test_undeclared_label_in_test_file_names_test_file(tmp_path):
    _write(tmp_path / "toy_TRAIN.ts", _cases(None))
    _write(tmp_path / "toy_TEST.ts", _cases(5))
    with pytest.raises(DataError, match=r"toy_TEST\.ts: case 6 has class label 'swim'"):
        load_dataset(tmp_path / "toy_TRAIN.ts")


def test_declared_labels_pass_case_insensitively(tmp_path):
    d = load_dataset(_write(tmp_path / "ok.ts", _cases(None), declared="Walk Run Jump"))
    assert len(d.y) == 12 and len(d.classes) == 3


@pytest.mark.parametrize("command", ["check", "pretrain", "run"])
@pytest.mark.parametrize("bad_at", [0, 11])
def test_cli_exit_2(tmp_path, capsys, command, bad_at):
    p = _write(tmp_path / "toy.ts", _cases(bad_at))
    out = tmp_path / "out"
    args = [command, "timeseries", "--data", str(p)] + ([] if command == "check" else ["--out", str(out)])
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert "toy.ts" in err[0] and f"case {bad_at + 1}" in err[0] and "'swim'" in err[0]
    assert not out.exists()


def test_cli_control_passes(tmp_path, capsys):
    p = _write(tmp_path / "toy.ts", _cases(None))
    assert main(["check", "timeseries", "--data", str(p)]) == 0
    assert "OK (timeseries)" in capsys.readouterr().out
