"""The strategy-diversity notebook executes top to bottom (nbclient, a kernel on this interpreter) and
shows its figures inline; the committed copy carries the outputs of such a run (the docs site shows them,
``make notebook`` re-makes them)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "strategy_diversity.ipynb"
TIMEOUT_S = 300  # per cell


@pytest.fixture
def kernel_on_this_python(tmp_path, monkeypatch):
    """A kernelspec named python3 that runs this interpreter, whatever Jupyter finds elsewhere."""
    import json

    spec = tmp_path / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (test)",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return "python3"


def _outputs(nb) -> tuple[str, list]:
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    return text, images


FINDING = "3 clusters; adjusted Rand index vs the roles: 1.00"


def test_notebook_runs_and_clusters_the_roles(kernel_on_this_python):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:  # execute from a clean slate, not from the committed outputs
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbclient.NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name=kernel_on_this_python,
        resources={"metadata": {"path": str(NOTEBOOK.parents[1])}},
    ).execute()
    text, images = _outputs(nb)
    assert FINDING in text
    assert len(images) >= 4  # map, dendrogram, profiles, cross-play shown inline


def test_committed_notebook_carries_its_figures_and_finding():
    text, images = _outputs(nbformat.read(NOTEBOOK, as_version=4))
    assert FINDING in text, "re-execute it: make notebook"
    assert len(images) >= 4, "re-execute it: make notebook"
