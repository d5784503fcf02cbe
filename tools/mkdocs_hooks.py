"""MkDocs hooks: pages that live outside ``docs/`` so each text is written once.

- ``README.md`` is the site's front page (``index.md``): its links into ``docs/`` lose that prefix, and
  the images it shows from the repository are copied into the site beside it.
- Each env's own ``README.md`` (``envs/<name>/README.md``) becomes ``environments/<name>.md``.
- The API reference reads the source as it is installed: ``build/docs-src/diverse_marl`` holds links to
  ``diverse_marl/``'s modules and to ``envs/``, ``algorithms/``, ``analysis/`` (setup.py's package_dir),
  so the reader finds ``diverse_marl.envs`` without importing anything.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
# installed package -> source folder (setup.py's ROOTS)
PACKAGE_DIRS = {"envs": "envs", "algorithms": "algorithms", "analysis": "analysis"}
API_SOURCE = ROOT / "build" / "docs-src"
ENV_READMES = {"overcooked": "envs/overcooked/README.md", "hide_and_seek": "envs/hide_and_seek/README.md"}


def front_page(readme: str) -> str:
    """README.md as the site's index: links ``docs/x.md`` -> ``x.md``, env READMEs -> their pages."""
    for name, path in ENV_READMES.items():
        readme = readme.replace(f"]({path})", f"](environments/{name}.md)")
    return re.sub(r"\]\(docs/", "](", readme)


def lay_out_installed_tree(dest: Path = API_SOURCE) -> Path:
    """``dest/diverse_marl`` laid out as the installed package: real folders, each ``.py`` a link to its source.

    Folders are real (the reader does not walk linked folders); the tree is made anew on every build.
    """
    pkg = dest / "diverse_marl"
    shutil.rmtree(dest, ignore_errors=True)
    sources = {pkg: ROOT / "diverse_marl"}
    sources.update({pkg / name: ROOT / folder for name, folder in PACKAGE_DIRS.items()})
    for target_dir, source_dir in sources.items():
        for src in source_dir.rglob("*.py"):
            rel = src.relative_to(source_dir)
            if "__pycache__" in rel.parts or (target_dir == pkg and rel.parts[0] in PACKAGE_DIRS):
                continue
            link = target_dir / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(src)
    return dest


@event_priority(100)  # before mkdocstrings reads its handler's paths (it drops ones that do not exist yet)
def on_config(config):
    lay_out_installed_tree()
    return config


def on_files(files: Files, config) -> Files:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    files.append(File.generated(config, "index.md", content=front_page(readme)))
    for image in IMAGE.findall(readme):
        if not image.startswith(("http://", "https://", "docs/")):
            files.append(File.generated(config, image, abs_src_path=str(ROOT / image)))
    for name, path in ENV_READMES.items():
        text = (ROOT / path).read_text(encoding="utf-8")
        files.append(File.generated(config, f"environments/{name}.md", content=text))
    return files
