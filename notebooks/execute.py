"""Execute notebooks in place so they are committed with their outputs (plots visible without
running them): python notebooks/execute.py [NOTEBOOK ...] (default: every notebook here)."""

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def execute(path: Path, timeout: int = 1200) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(HERE.parent)}}).execute()
    nbformat.write(nb, path)
    print(f"executed {path.name}")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for p in [Path(a) for a in sys.argv[1:]] or sorted(HERE.glob("*.ipynb")):
        execute(p)
