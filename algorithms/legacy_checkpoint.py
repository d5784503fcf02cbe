"""Add the pickle-free policy files to checkpoints written by older diverse-marl versions.

Older versions kept weights only in RLlib's pickles, which ``load_policy`` refuses to read.
:func:`upgrade_checkpoints` reads them with RLlib - this unpickles, so run it only on checkpoints
you made yourself or trust - and writes ``policies.json`` + ``weights/`` beside them; afterwards
they load like new checkpoints, anywhere, without unpickling.

    python -m diverse_marl.algorithms.legacy_checkpoint runs/old-run [more run dirs or checkpoints ...]
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from diverse_marl.algorithms.mappo.export import write_mappo_policies
from diverse_marl.algorithms.safe_checkpoint import POLICIES_FILE, write_safe_checkpoint
from diverse_marl.errors import CheckpointError, DiverseMarlError

MODULES_DIR = Path("learner_group") / "learner" / "rl_module"
MODULE_STATE = "module_state.pkl"
LEGACY_SIDECAR = "mappo_policies.json"  # what MAPPO checkpoints held before policies.json
LEGACY_RAW_SPACES = "mappo_raw_spaces.pkl"  # ... and their non-Box observation spaces, pickled


def upgrade_checkpoints(path: str | os.PathLike) -> list[Path]:
    """Upgrade every legacy checkpoint at or below ``path`` (a checkpoint, run dir or population).

    Returns the checkpoints that got new files; checkpoints that already have them are left alone.
    """
    root = Path(path)
    if not root.exists():
        raise CheckpointError(f"{str(root)!r} does not exist")
    found = (
        [root]
        if (root / "learner_group").is_dir()
        else sorted(
            p.parent
            for p in root.rglob("learner_group")
            if not any(part.startswith(".") for part in p.parent.parts[len(root.parts) :])
        )
    )
    if not found:
        raise CheckpointError(f"{str(root)!r} holds no RLlib checkpoint (no learner_group/ folder)")
    return [ckpt for ckpt in found if not (ckpt / POLICIES_FILE).exists() and _upgrade(ckpt)]


def _upgrade(ckpt: Path) -> bool:
    from ray.rllib.core.rl_module.rl_module import RLModule  # Ray: only when upgrading an old checkpoint

    from diverse_marl.algorithms.mappo.module import MAPPOTorchRLModule  # Ray: only when upgrading
    from diverse_marl.algorithms.ppo_baseline import SHARED_POLICY, describe_stock_module, env_agent_ids

    modules_dir = ckpt / MODULES_DIR
    pids = sorted(d.name for d in modules_dir.iterdir() if (d / MODULE_STATE).exists()) if modules_dir.is_dir() else []
    if not pids:
        raise CheckpointError(
            f"checkpoint {str(ckpt)!r} holds no policy weights ({MODULES_DIR}/<policy>/{MODULE_STATE})"
        )
    try:
        modules = {pid: RLModule.from_checkpoint(str(modules_dir / pid)) for pid in pids}
    except Exception as exc:  # noqa: BLE001 - any failure here means RLlib cannot read the checkpoint
        raise CheckpointError(f"checkpoint {str(ckpt)!r}: RLlib cannot load its policies ({exc})") from None
    states = {pid: m.get_state() for pid, m in modules.items()}
    if all(isinstance(m, MAPPOTorchRLModule) for m in modules.values()):
        sidecar = ckpt / LEGACY_SIDECAR
        if not sidecar.exists():
            raise CheckpointError(f"MAPPO checkpoint {str(ckpt)!r} lacks {LEGACY_SIDECAR}; retrain it")
        info = json.loads(sidecar.read_text(encoding="utf-8"))
        raw_file = ckpt / LEGACY_RAW_SPACES
        if raw_file.exists():
            with open(raw_file, "rb") as f:
                info["raw_spaces"] = pickle.load(f)  # trusted input: the caller vouches for this checkpoint
        write_mappo_policies(ckpt, info, states)
        return True
    config = _run_config(ckpt)
    agents = env_agent_ids(config["env"], config.get("env_config") or {}) if config else []
    policies = {pid: describe_stock_module(m) for pid, m in modules.items()}
    write_safe_checkpoint(
        ckpt, "ppo", states, policies, agents={a: SHARED_POLICY for a in agents}, policy_mapping="shared"
    )
    return True


def _run_config(ckpt: Path) -> dict[str, Any] | None:
    """The config.yaml of the run dir holding ``ckpt`` (``RUN/checkpoints/iter_N``), if any."""
    path = ckpt.parent.parent / "config.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None


def main(argv: Sequence[str] | None = None) -> int:
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        for p in paths:
            done = upgrade_checkpoints(p)
            print(f"{p}: {len(done)} checkpoint(s) upgraded")
    except DiverseMarlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
