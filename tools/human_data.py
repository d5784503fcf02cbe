"""Convert the 2019 human-human Overcooked trials (Carroll et al.) into this toolkit's state format.

The trials ship inside the ``overcooked-ai==1.1.0`` source distribution as pandas DataFrames
(``overcooked_ai_py/data/human_data/clean_{train,test}_trials.pickle``). Reading them needs
pandas, which the project does not depend on, so the work is split in two steps
(``make human-data`` runs both)::

    # 1. in a throwaway venv with pandas: the pickles -> plain JSON rows (no diverse_marl import)
    .human-data/venv/bin/python tools/human_data.py extract SRC_DIR .human-data/raw
    # 2. in the project venv: JSON rows -> our state dicts, checked step by step against our env
    .venv/bin/python tools/human_data.py convert .human-data/raw data/human
    # (tests/fixtures/human was made with: tools/human_data.py sample .human-data/raw tests/fixtures/human)

Source format (2019, "old dynamics"): a state is a Python-literal string ``{'players': [{'position',
'orientation', 'held_object'?}], 'objects': {'x,y': obj}, 'order_list', 'pot_explosion'}``; a soup is
``{'name': 'soup', 'position', 'state': [soup_type, num_items, cook_time]}`` whose ``cook_time`` counts
ticks since the pot filled (pots start cooking by themselves at 3 ingredients; ready at 20, and
the old game keeps counting, which we cap at 20); a joint action is
``[a0, a1]`` with a direction ``[dx, dy]``, ``[0, 0]`` (stay) or ``'INTERACT'``. Old layout names
(``simple``, ``unident_s``, ``random1``, ``random0``, ``random3``) map to today's (``LAYOUT_NAMES``).

Output, per layout and split: ``data/human/<layout>_<split>.json.gz`` holding
``{"layout", "split", "old_dynamics": true, "source", "trials": [{"id", "worker", "states": [T state
dicts, overcooked_ai's OvercookedState.to_dict() format], "actions": [[a0, a1] x T] (our action
indices), "rewards": [T] (as recorded: the 2019 web game scored 5 per soup), "score"}]}`` plus
``summary.json`` (counts, and how many recorded transitions our env reproduces under old dynamics).
``states[t]`` is the state in which ``actions[t]`` was taken.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

SPLITS = ("train", "test")
PICKLE_NAME = "clean_{split}_trials.pickle"
RAW_NAME = "{split}.json"
# 2019 layout names -> ours (the 2019 data of overcooked-ai 1.1.0 already uses the new names for three of them)
LAYOUT_NAMES = {
    "simple": "cramped_room",
    "unident_s": "asymmetric_advantages",
    "random1": "coordination_ring",
    "random0": "forced_coordination",
    "random3": "counter_circuit",
    "cramped_room": "cramped_room",
    "asymmetric_advantages": "asymmetric_advantages",
    "coordination_ring": "coordination_ring",
    "forced_coordination": "forced_coordination",
    "counter_circuit": "counter_circuit",
}
RAW_COLUMNS = (
    "layout_name",
    "layout",
    "workerid_num",
    "cur_gameloop",
    "state",
    "next_state",
    "joint_action",
    "reward",
    "score",
)
# our action indices (envs/overcooked/core.py): 0 north, 1 south, 2 east, 3 west, 4 stay, 5 interact
ACTION_OF_DIRECTION = {(0, -1): 0, (0, 1): 1, (1, 0): 2, (-1, 0): 3, (0, 0): 4}
INTERACT = 5
OLD_FULL_POT = 3  # 2019 pots start cooking by themselves once they hold 3 ingredients
OLD_COOK_TIME = 20  # 2019 soups are ready after 20 ticks; the old game kept counting past that, ours stops


class ConversionError(ValueError):
    """A source row that does not parse as a 2019 Overcooked state or action."""


# ---------------------------------------------------------------------------------------
# one state, one action (pure Python: importable without pandas or diverse_marl)
# ---------------------------------------------------------------------------------------
def parse_literal(text: Any) -> Any:
    """A state / joint-action cell: a Python-literal string (single quotes, True/False) or already parsed."""
    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise ConversionError(f"cannot parse {text[:80]!r}: {exc}") from None


def convert_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A 2019 object dict -> overcooked_ai's current object dict (soups get ``_ingredients`` and ``cooking_tick``)."""
    name, position = obj["name"], [int(v) for v in obj["position"]]
    if name != "soup":
        return {"name": name, "position": position}
    soup_type, num_items, cook_time = obj["state"]
    if soup_type not in ("onion", "tomato") or not 0 < int(num_items) <= OLD_FULL_POT:
        raise ConversionError(f"soup state {obj['state']!r} is not [onion|tomato, 1..3, cook_time]")
    # a soup under 3 ingredients is idle (-1); a full one has cooked ``cook_time`` ticks (ready from 20 on)
    tick = min(int(cook_time), OLD_COOK_TIME) if int(num_items) == OLD_FULL_POT else -1
    return {
        "name": "soup",
        "position": position,
        "_ingredients": [{"name": soup_type, "position": position} for _ in range(int(num_items))],
        "cooking_tick": tick,
    }


def convert_state(old: Any, timestep: int) -> dict[str, Any]:
    """A 2019 state (dict or its string) -> an ``OvercookedState.to_dict()``-style dict at ``timestep``."""
    old = parse_literal(old)
    try:
        players = []
        for p in old["players"]:
            held = p.get("held_object")
            players.append(
                {
                    "position": [int(v) for v in p["position"]],
                    "orientation": [int(v) for v in p["orientation"]],
                    "held_object": None if held is None else convert_object(held),
                }
            )
        objects = old.get("objects", {})
        objects = objects.values() if isinstance(objects, Mapping) else objects
        converted = sorted((convert_object(o) for o in objects), key=lambda o: (o["position"][1], o["position"][0]))
    except (KeyError, TypeError, IndexError) as exc:
        raise ConversionError(f"not a 2019 Overcooked state ({type(exc).__name__}: {exc}): {str(old)[:120]}") from None
    return {"players": players, "objects": converted, "timestep": int(timestep)}


def convert_action(action: Any) -> int:
    """A 2019 player action (``[dx, dy]``, ``[0, 0]`` or ``'INTERACT'``) -> our action index."""
    if isinstance(action, str):
        if action.upper() == "INTERACT":
            return INTERACT
        raise ConversionError(f"unknown action {action!r}; expected a direction [dx, dy], [0, 0] or 'INTERACT'")
    try:
        return ACTION_OF_DIRECTION[tuple(int(v) for v in action)]
    except (KeyError, TypeError, ValueError):
        raise ConversionError(
            f"unknown action {action!r}; expected one of {sorted(ACTION_OF_DIRECTION)} or 'INTERACT'"
        ) from None


def convert_joint_action(joint: Any) -> list[int]:
    joint = parse_literal(joint)
    if not isinstance(joint, (list, tuple)) or len(joint) != 2:
        raise ConversionError(f"joint action {joint!r} is not a pair")
    return [convert_action(a) for a in joint]


def canonical_layout(name: str) -> str:
    if name not in LAYOUT_NAMES:
        raise ConversionError(f"unknown layout name {name!r}; known: {', '.join(sorted(LAYOUT_NAMES))}")
    return LAYOUT_NAMES[name]


def convert_trials(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Raw rows (``RAW_COLUMNS``) -> ``{layout: [trial, ...]}``; a trial is one (layout, worker) game in
    time order. Each trial keeps its recorded ``next_states`` (converted) for the dynamics check."""
    games: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for row in rows:
        games.setdefault((canonical_layout(row["layout_name"]), int(row["workerid_num"])), []).append(row)
    out: dict[str, list[dict[str, Any]]] = {}
    for (layout, worker), game in sorted(games.items()):
        game = sorted(game, key=lambda r: float(r["cur_gameloop"]))
        out.setdefault(layout, []).append(
            {
                "id": f"{layout}-w{worker}",
                "worker": worker,
                "grid": list(parse_literal(game[0]["layout"])),
                "states": [convert_state(r["state"], t) for t, r in enumerate(game)],
                "next_states": [convert_state(r["next_state"], t + 1) for t, r in enumerate(game)],
                "actions": [convert_joint_action(r["joint_action"]) for r in game],
                "rewards": [float(r["reward"]) for r in game],
                "score": float(max(float(r["score"]) for r in game)),
            }
        )
    return out


# ---------------------------------------------------------------------------------------
# checking against our env (needs diverse_marl: the project venv)
# ---------------------------------------------------------------------------------------
def check_transitions(layout: str, trial: Mapping[str, Any]) -> dict[str, int]:
    """Step our env (old dynamics) from every converted state with its recorded joint action and compare
    with the recorded next state (players, held objects, objects) and the steps that deliver a soup."""
    from diverse_marl.envs.overcooked.env import OvercookedEnv

    env = OvercookedEnv(layout=layout, old_dynamics=True, horizon=10**6)
    _check_grid(env, trial)
    match = reward_match = 0
    for state, action, nxt, reward in zip(trial["states"], trial["actions"], trial["next_states"], trial["rewards"]):
        env.set_state(state)
        _, rewards, *_rest, infos = env.step({"agent_0": action[0], "agent_1": action[1]})
        match += comparable(env.get_state()) == comparable(_through_env(env, nxt))
        # the 2019 web game scored 5 per soup, our env (overcooked_ai's rule) 20: compare when deliveries happen
        reward_match += (float(infos["agent_0"]["sparse_reward"]) > 0) == (reward > 0)
    return {"transitions": len(trial["states"]), "state_match": match, "reward_match": reward_match}


def _through_env(env: Any, state: Mapping[str, Any]) -> dict[str, Any]:
    """A state dict as our env writes it (set, then read back), so both sides have one spelling."""
    before = env.get_state()
    env.set_state(dict(state))
    out = env.get_state()
    env.set_state(before)
    return out


def comparable(state: Mapping[str, Any]) -> tuple:
    """What a transition check compares: players (position, orientation, held) and objects, not time."""

    def obj(o: Mapping[str, Any] | None) -> tuple:
        if o is None:
            return ()
        ingredients = tuple(sorted(i["name"] if isinstance(i, Mapping) else i for i in o.get("_ingredients", ())))
        return (o["name"], tuple(o["position"]), ingredients, o.get("cooking_tick", -1) if o["name"] == "soup" else -1)

    players = tuple(
        (tuple(p["position"]), tuple(p["orientation"]), obj(p.get("held_object"))) for p in state["players"]
    )
    return players, tuple(sorted(obj(o) for o in state["objects"]))


def _check_grid(env: Any, trial: Mapping[str, Any]) -> None:
    """The recorded grid must be our layout's terrain (player start digits may differ)."""

    def terrain(rows: Sequence[str]) -> list[str]:
        return [r.replace("1", " ").replace("2", " ") for r in rows]

    if terrain(trial["grid"]) != terrain(env.layout.terrain_rows):
        raise ConversionError(
            f"trial {trial['id']}: recorded grid {trial['grid']} differs from our "
            f"{env.layout.name!r} layout {env.layout.terrain_rows}"
        )


def write_split(out_dir: Path, layout: str, split: str, trials: list[dict[str, Any]], source: str) -> Path:
    """``<layout>_<split>.json.gz``, atomically (temp file + rename)."""
    path = out_dir / f"{layout}_{split}.json.gz"
    kept = [{k: t[k] for k in ("id", "worker", "states", "actions", "rewards", "score")} for t in trials]
    data = {"layout": layout, "split": split, "old_dynamics": True, "source": source, "trials": kept}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"))
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------------
# the two steps
# ---------------------------------------------------------------------------------------
def extract(src: Path, out: Path) -> None:
    """Pickled DataFrames -> JSON lists of rows (``RAW_COLUMNS``); needs pandas only."""
    import pandas as pd  # the throwaway venv's; the project does not depend on pandas

    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        df = pd.read_pickle(src / PICKLE_NAME.format(split=split))
        missing = [c for c in RAW_COLUMNS if c not in df.columns]
        if missing:
            raise SystemExit(
                f"{src / PICKLE_NAME.format(split=split)}: columns {missing} missing; "
                "is this overcooked-ai 1.1.0's human data?"
            )
        rows = df[list(RAW_COLUMNS)].to_dict(orient="records")
        for r in rows:
            r["workerid_num"], r["cur_gameloop"] = int(r["workerid_num"]), float(r["cur_gameloop"])
            r["reward"], r["score"] = float(r["reward"]), float(r["score"])
        path = out / RAW_NAME.format(split=split)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(rows), encoding="utf-8")
        os.replace(tmp, path)
        print(f"extracted {len(rows)} rows -> {path}")


def convert(raw: Path, out: Path, source: str = "overcooked-ai==1.1.0 clean_{split}_trials.pickle") -> dict[str, Any]:
    """Raw JSON rows -> ``<layout>_<split>.json.gz`` + ``summary.json``, every transition checked."""
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"source": "overcooked-ai==1.1.0 human_data (Carroll et al. 2019)", "splits": {}}
    for split in SPLITS:
        rows = json.loads((raw / RAW_NAME.format(split=split)).read_text(encoding="utf-8"))
        per_layout = convert_trials(rows)
        summary["splits"][split] = {}
        for layout, trials in per_layout.items():
            checks = [check_transitions(layout, t) for t in trials]
            total = {k: sum(c[k] for c in checks) for k in ("transitions", "state_match", "reward_match")}
            path = write_split(out, layout, split, trials, source.format(split=split))
            summary["splits"][split][layout] = {"trials": len(trials), **total, "file": path.name}
            print(
                f"{split:5s} {layout:22s} {len(trials):2d} trials {total['transitions']:6d} steps; our env "
                f"reproduces {total['state_match'] / max(total['transitions'], 1):.1%} of next states, "
                f"{total['reward_match'] / max(total['transitions'], 1):.1%} of rewards -> {path}"
            )
    tmp = out / f".summary.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    os.replace(tmp, out / "summary.json")
    return summary


def sample(raw: Path, out: Path, layout: str, steps: int, raw_rows: int) -> None:
    """A small converted sample for tests: the first ``steps`` steps of the first trial of ``layout`` per split,
    plus ``raw_rows`` source rows of that train trial (from its first delivery on) for the conversion test."""
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        rows = [
            r
            for r in json.loads((raw / RAW_NAME.format(split=split)).read_text(encoding="utf-8"))
            if canonical_layout(r["layout_name"]) == layout
        ]
        first = min(int(r["workerid_num"]) for r in rows)
        game = sorted((r for r in rows if int(r["workerid_num"]) == first), key=lambda r: float(r["cur_gameloop"]))
        trial = convert_trials(game[:steps])[layout][0]
        write_split(out, layout, split, [trial], f"first {steps} steps of {trial['id']}, {split} split")
        if split == "train":
            start = max(0, next(i for i, r in enumerate(game) if float(r["reward"]) > 0) - raw_rows // 2)
            excerpt = game[start : start + raw_rows]
            (out / f"raw_{layout}.json").write_text(json.dumps(excerpt, indent=0), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("extract", help="pickles -> raw JSON rows (run with a python that has pandas)")
    p.add_argument("src", type=Path, help="the overcooked_ai_py/data/human_data folder")
    p.add_argument("out", type=Path)
    p = sub.add_parser("convert", help="raw JSON rows -> data/human (run with the project venv)")
    p.add_argument("raw", type=Path)
    p.add_argument("out", type=Path)
    p = sub.add_parser("sample", help="a small converted sample + raw excerpt (tests/fixtures/human)")
    p.add_argument("raw", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--layout", default="cramped_room")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--raw-rows", type=int, default=120)
    args = parser.parse_args(argv)
    try:
        if args.step == "extract":
            extract(args.src, args.out)
        elif args.step == "sample":
            sample(args.raw, args.out, args.layout, args.steps, args.raw_rows)
        else:
            convert(args.raw, args.out)
    except (ConversionError, OSError) as exc:
        print(f"human-data: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
