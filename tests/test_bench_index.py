"""bench/results explains itself: one folder per bench, every file described in bench/README.md, no session names."""

from __future__ import annotations

import re
from pathlib import Path

from bench import index

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# names of work sessions or private shorthand, not of what a file holds
SESSION_NAME = re.compile(r"^(s\d+_|cc_old_|fx_|mo_cc_)")


def test_every_results_file_is_in_a_bench_folder_and_described():
    loose = [p.name for p in RESULTS.iterdir() if p.is_file() and not p.name.startswith((".", "tmp"))]
    assert not loose, f"results files belong in bench/results/<bench>/: {loose}"
    assert index.problems() == []


def test_the_readme_lists_every_results_file():
    readme = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    for e in index.BENCHES:
        for name in index.results_files(e.bench):
            assert f"`{e.bench}/{name}`" in readme, f"bench/README.md does not list {e.bench}/{name}"
        assert e.command in readme


def test_no_results_file_is_named_after_a_session():
    named = [str(p.relative_to(RESULTS)) for p in RESULTS.rglob("*") if SESSION_NAME.match(p.name)]  # tracked or not
    assert not named, f"results named after a session or shorthand: {named}"


def test_every_bench_module_has_an_entry():
    helpers = {"__init__", "harness", "index", "seed_stats"}  # shared code, no results of their own
    modules = {p.stem for p in (ROOT / "bench").glob("*.py")} - helpers
    described = {e.bench for e in index.BENCHES} | {m for e in index.BENCHES for m in e.also}
    assert modules <= described, f"benches missing from bench/index.py: {sorted(modules - described)}"
