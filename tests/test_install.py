"""Packaging: envs/, algorithms/, analysis/ install as diverse_marl.* and nothing generic lands in site-packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_subpackages_map_to_top_level_folders():
    import diverse_marl.algorithms
    import diverse_marl.analysis
    import diverse_marl.envs

    assert Path(diverse_marl.envs.__file__).resolve() == ROOT / "envs" / "__init__.py"
    assert Path(diverse_marl.algorithms.__file__).resolve() == ROOT / "algorithms" / "__init__.py"
    assert Path(diverse_marl.analysis.__file__).resolve() == ROOT / "analysis" / "__init__.py"


def test_wheel_holds_only_the_diverse_marl_package(tmp_path):
    """`pip install .` installs what the wheel holds: every module under diverse_marl/."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(tmp_path.glob("diverse_marl-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"diverse_marl", next(t for t in tops if t.endswith(".dist-info"))}, tops
    for module in (
        "diverse_marl/envs/__init__.py",
        "diverse_marl/envs/overcooked/__init__.py",
        "diverse_marl/envs/hide_and_seek/__init__.py",
        "diverse_marl/algorithms/mappo/__init__.py",
        "diverse_marl/analysis/report.py",
        "diverse_marl/cli.py",
    ):
        assert module in names, module
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "diverse-marl = diverse_marl.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "diverse-marl"
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "train" in proc.stdout
