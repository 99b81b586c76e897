"""Execute notebooks in place so their saved outputs are what a fresh run produces.

Usage: python tools/execute_notebooks.py notebooks/01_*.ipynb ...
One torch thread (OMP_NUM_THREADS=1) so the printed numbers match `make test`'s nbval run.
"""

import os
import sys

import nbformat
from nbclient import NotebookClient


def execute(path: str) -> None:
    """Run every cell of the notebook at `path` and write the outputs back."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", store_widget_state=False,
                            resources={"metadata": {"path": os.path.dirname(path) or "."}})
    client.execute()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raise SystemExit(f"{path}: a cell raised {output.get('ename')}")
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    print(f"executed {path}")


if __name__ == "__main__":
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["LAB_CACHE_DIR"] = ""  # every dashboard trains: saved outputs are fresh runs
    for notebook in sys.argv[1:]:
        execute(notebook)
