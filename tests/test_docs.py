"""The documentation site builds with no broken link, page or API reference (``mkdocs build --strict``),
and it carries what a reader comes for: the README as its front page, every page in the navigation, the
notebook with its figures and an API reference generated from the docstrings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_strict(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    index = re.sub(r"<[^>]+>", "", (site / "index.html").read_text(encoding="utf-8"))  # text, no markup
    assert "make demo" in index and "make test" in index  # the README is the front page
    for page in ("getting-started", "configs", "environments/overcooked", "methods/rpg", "analysis", "api"):
        assert (site / page / "index.html").is_file(), page
    notebook = (site / "notebooks" / "strategy_diversity" / "index.html").read_text(encoding="utf-8")
    assert notebook.count("data:image/png;base64") >= 4, "the notebook page shows its figures"
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "load_population" in api and "ExperimentConfig" in api
