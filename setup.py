"""diverse-marl packaging.

The top-level folders ``envs/``, ``algorithms/`` and ``analysis/`` are installed as
``diverse_marl.envs``, ``diverse_marl.algorithms`` and ``diverse_marl.analysis`` via
``package_dir``, so nothing with a generic name lands in site-packages.
"""

from __future__ import annotations

import os

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
# installed package name -> source folder
ROOTS = {
    "diverse_marl": "diverse_marl",
    "diverse_marl.envs": "envs",
    "diverse_marl.algorithms": "algorithms",
    "diverse_marl.analysis": "analysis",
}


def find_packages_mapped() -> list[str]:
    packages = []
    for pkg, folder in ROOTS.items():
        for dirpath, dirnames, filenames in os.walk(os.path.join(HERE, folder)):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
            if "__init__.py" in filenames:
                rel = os.path.relpath(dirpath, os.path.join(HERE, folder))
                packages.append(pkg if rel == "." else pkg + "." + rel.replace(os.sep, "."))
    return sorted(packages)


# mkdocs-material with the API reference from docstrings (mkdocstrings) and the executed notebook
# (mkdocs-jupyter; its 0.27 needs Python 3.12)
DOCS = [
    "mkdocs>=1.6,<2",
    "mkdocs-material>=9.5,<10",
    "mkdocstrings[python]>=0.26",
    "mkdocs-jupyter>=0.25,<0.27",
]


def read(name: str) -> str:
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return f.read()


setup(
    name="diverse-marl",
    version="0.1.0",
    description="Diversity-driven multi-agent RL: MAPPO on RLlib, reward randomization, state-distance diversity",
    long_description=read("README.md"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages_mapped(),
    package_dir=ROOTS,
    package_data={"diverse_marl.envs": ["**/*.txt", "**/*.layout", "**/*.json"]},
    install_requires=[
        "torch>=2.2,<2.15",
        # MAPPO overrides private RLlib methods (tests/test_rllib_api.py checks their signatures):
        # only the tested minor release
        "ray[rllib]>=2.60.0,<2.61",
        "pettingzoo>=1.24",
        "gymnasium>=1.0",
        "numpy>=1.24",
        "scipy>=1.10",
        "matplotlib>=3.7",
        "pyyaml>=6.0",
        "tqdm>=4.60",
        "tensorboardX>=2.6",
        "imageio>=2.30",
        # analysis: clustering and metrics (scikit-learn), Wasserstein distances (POT)
        "scikit-learn>=1.3",
        "pot>=0.9",
        # zero-shot coordination statistics (analysis/zsc_stats.py): IQM with stratified bootstrap CIs, the
        # field's standard (Agarwal et al. 2021), from the authors' own library instead of a reimplementation
        "rliable>=1.2",
        # rliable needs arch<8, and arch 7.x calls a pandas-private decorator whose signature pandas 3 changed
        "pandas<3",
        "pytest>=7.0",
    ],
    extras_require={
        "test": [
            "pytest>=7.0",
            "pytest-timeout>=2.1",
            # `make lint` (CI runs it before the tests); pinned: formatting changes between releases
            "ruff==0.17.6",
            # the documentation site, built with --strict in the suite (tests/test_docs.py)
            *DOCS,
            # the layers of docs/architecture.md (contracts in pyproject.toml, run by tests/test_architecture.py)
            "import-linter>=2.16,<3",
            "overcooked==0.2.1",
            # the notebook is executed in the suite; the LLM agents are tested on a loopback server
            "nbclient>=0.10",
            "nbformat>=5.9",
            "ipykernel>=6.0",
            "openai>=1.40",
        ],
        "llm": ["openai>=1.40"],
        "docs": DOCS,
        "notebook": ["nbclient>=0.10", "nbformat>=5.9", "ipykernel>=6.0"],
    },
    entry_points={"console_scripts": ["diverse-marl=diverse_marl.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
