"""Hide-and-seek rules pinned on hand-built maps, for BOTH implementations (single and batched).

Each scene is a text map whose ``H``/``S`` cells (row-major order) are the hiders/seekers.
"""

from __future__ import annotations

import numpy as np
import pytest

from diverse_marl.envs import make
from diverse_marl.envs.contract import check_env
from diverse_marl.envs.hide_and_seek import HideAndSeekBatchedEnv, HideAndSeekEnv, write_gif
from diverse_marl.envs.hide_and_seek.config import (
    GRAB,
    HIDERS,
    LOCK,
    MOVE_E,
    MOVE_N,
    MOVE_S,
    MOVE_W,
    NOOP,
    OBS_CHANNELS,
    SEEKERS,
    UNLOCK,
    UNLOCKED,
)
from diverse_marl.envs.hide_and_seek.fort import hiders_enclosed, hiders_enclosed_batch
from diverse_marl.envs.hide_and_seek.maps import EpisodeInit, parse_text_map
from diverse_marl.errors import ConfigError

N_, S_, E_, W_ = 0, 1, 2, 3  # facings


def scene(text: str, facing: list[int] | None = None) -> EpisodeInit:
    tm = parse_text_map(text)
    agents = tm.hider_cells + tm.seeker_cells
    return EpisodeInit(
        tm.walls,
        np.array(tm.boxes + tm.ramps, dtype=np.int64).reshape(-1, 2),
        np.array([0] * len(tm.boxes) + [1] * len(tm.ramps), dtype=np.int64),
        np.array(agents, dtype=np.int64).reshape(-1, 2),
        np.array(facing if facing is not None else [N_] * len(agents), dtype=np.int64),
    )


class Single:
    """Uniform test view of HideAndSeekEnv."""

    def __init__(self, text: str, facing: list[int] | None = None, **kw) -> None:
        tm = parse_text_map(text)
        self.env = HideAndSeekEnv(scenario=text, n_hiders=len(tm.hider_cells), n_seekers=len(tm.seeker_cells), **kw)
        self.env.reset(seed=0)
        self.env.load(scene(text, facing))
        self.names = self.env.possible_agents
        self.last_info: dict = {}

    def step(self, **acts: int) -> dict[str, float]:
        obs, rew, term, trunc, info = self.env.step({a: acts.get(a, NOOP) for a in self.names})
        self.last_obs, self.last_info = obs, info[self.names[0]]
        return rew

    def pos(self, i: int) -> tuple[int, int]:
        return tuple(self.env.pos[i])

    def obj(self, o: int) -> tuple[int, int]:
        return tuple(self.env.obj_pos[o])

    def lock(self, o: int) -> int:
        return self.env.obj_lock[o]

    def holding(self, i: int) -> int:
        return self.env.holding[i]

    def obs(self, name: str) -> np.ndarray:
        return self.env.observe(self.names.index(name))

    def episode_stats(self) -> dict[str, float]:
        return self.last_info["episode_stats"]


class Batched(Single):
    """Same view of HideAndSeekBatchedEnv with 2 identical envs (row 1 is checked against row 0)."""

    def __init__(self, text: str, facing: list[int] | None = None, **kw) -> None:
        tm = parse_text_map(text)
        self.env = HideAndSeekBatchedEnv(
            num_envs=2, scenario=text, n_hiders=len(tm.hider_cells), n_seekers=len(tm.seeker_cells), **kw
        )
        self.env.reset(seed=0)
        self.env.load([scene(text, facing)] * 2)
        self.names = self.env.possible_agents
        self.W = self.env.cols
        self.last_info = {}

    def step(self, **acts: int) -> dict[str, float]:
        obs, rew, term, trunc, info = self.env.step({a: np.full(2, acts.get(a, NOOP)) for a in self.names})
        for a in self.names:  # both rows play the same scene (until the auto-reset draws new ones)
            assert rew[a][0] == rew[a][1]
            assert info["done"][0] or np.array_equal(obs[a][0], obs[a][1])
        self.last_obs, self.last_info = {a: o[0] for a, o in obs.items()}, info
        return {a: float(r[0]) for a, r in rew.items()}

    def pos(self, i: int) -> tuple[int, int]:
        return tuple(int(x) for x in divmod(self.env.pos[0, i], self.W))

    def obj(self, o: int) -> tuple[int, int]:
        return tuple(int(x) for x in divmod(self.env.obj_pos[0, o], self.W))

    def lock(self, o: int) -> int:
        return int(self.env.obj_lock[0, o])

    def holding(self, i: int) -> int:
        return int(self.env.holding[0, i])

    def obs(self, name: str) -> np.ndarray:
        return self.env._observe()[name][0]

    def episode_stats(self) -> dict[str, float]:
        assert self.last_info["done"][0]
        return {k: float(v[0]) for k, v in self.last_info["episode"].items() if "/" not in k}


IMPLS = pytest.mark.parametrize("impl", [Single, Batched], ids=["single", "batched"])

OPEN = """
#########
#H......#
#.......#
#.......#
#......S#
#########
"""


# ---- API ---------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", ["random_rooms", OPEN])  # quadrant, the default: in test_env_contract.py
def test_scenario_keeps_the_env_contract(scenario: str) -> None:
    kw = {"n_hiders": 1, "n_seekers": 1} if "\n" in scenario else {}
    check_env("hide_and_seek", {"scenario": scenario, "horizon": 30, **kw}, steps=100)


def test_defaults_agents_spaces_and_state() -> None:
    env = make("hide_and_seek", n_hiders=2, n_seekers=3)
    assert env.possible_agents == ["hider_0", "hider_1", "seeker_0", "seeker_1", "seeker_2"]
    obs, _ = env.reset(seed=1)
    assert env.rows == env.cols == 16
    assert obs["hider_0"].dtype == np.float32 and obs["hider_0"].shape == env.observation_space("hider_0").shape
    st = env.state()
    assert set(st) == set(env.possible_agents)
    assert st["hider_0"].shape == env.state_space("hider_0").shape
    # agent-specific: same map part, different id one-hot at the end
    assert not np.array_equal(st["hider_0"], st["seeker_0"])
    assert env.state_space("x").contains(st["seeker_2"])
    tail = st["seeker_2"][-(5 + 2) :]
    assert tail.tolist() == [0, 0, 0, 0, 1, 0, 1]
    # quadrant default objects: 2 boxes, 1 ramp
    assert sorted(env.obj_kind) == [0, 0, 1]


def test_seed_determinism() -> None:
    def rollout(seed: int) -> list[np.ndarray]:
        env = HideAndSeekEnv(scenario="random_rooms", horizon=20)
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(5)
        out = [np.concatenate([obs[a] for a in env.possible_agents]), env.walls.ravel().astype(np.float32)]
        while env.agents:
            obs, rew, *_ = env.step({a: int(rng.integers(0, 8)) for a in env.agents})
            out.append(np.concatenate([obs[a] for a in env.possible_agents] + [np.array(list(rew.values()))]))
        return out

    a, b, c = rollout(3), rollout(3), rollout(4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_errors() -> None:
    with pytest.raises(ConfigError, match="quadrant, random_rooms"):
        make("hide_and_seek", scenario="castle")
    bad_symbol = "#####\n#H.x#\n#..S#\n#####"
    with pytest.raises(ConfigError, match=r"row 1, column 3.*'x'"):
        HideAndSeekEnv(scenario=bad_symbol, n_hiders=1, n_seekers=1)
    ragged = "#####\n#H..#\n#.S#\n#####"
    with pytest.raises(ConfigError, match="row 2 has 4 columns"):
        HideAndSeekEnv(scenario=ragged, n_hiders=1, n_seekers=1)
    open_border = "#####\n#H...\n#..S#\n#####"
    with pytest.raises(ConfigError, match=r"row 1, column 4.*border"):
        HideAndSeekEnv(scenario=open_border, n_hiders=1, n_seekers=1)
    with pytest.raises(ConfigError, match="prep_fraction"):
        HideAndSeekEnv(prep_fraction=1.5)
    with pytest.raises(ConfigError, match="cannot place"):
        HideAndSeekEnv(size=7, n_boxes=30)
    env = HideAndSeekEnv()
    env.reset(seed=0)
    with pytest.raises(ConfigError, match=r"seeker_1.*0\.\.7"):
        env.step({a: (9 if a == "seeker_1" else 0) for a in env.agents})
    for bad in (1.5, "2", None):
        with pytest.raises(ConfigError, match="hider_0"):
            env.step({a: (bad if a == "hider_0" else 0) for a in env.agents})
    env.step({a: np.int64(3) for a in env.agents})  # numpy integers are fine
    with pytest.raises(ConfigError, match="reset"):
        HideAndSeekEnv().step({})
    benv = HideAndSeekBatchedEnv(num_envs=2)
    benv.reset(seed=0)
    with pytest.raises(ConfigError, match="hider_0"):
        benv.step({a: np.array([0, -1]) if a == "hider_0" else np.zeros(2, int) for a in benv.possible_agents})


# ---- rules ---------------------------------------------------------------------------------
@IMPLS
def test_prep_freeze_and_rewards(impl) -> None:
    g = impl(OPEN, horizon=10, prep_fraction=0.4, view_cone=360, view_radius=10)  # 4 prep steps
    s0 = g.pos(1)
    for _ in range(4):
        rew = g.step(hider_0=MOVE_E, seeker_0=MOVE_W)
        assert rew == {"hider_0": 0.0, "seeker_0": 0.0}
        assert g.pos(1) == s0  # seeker frozen
    assert g.pos(0) == (1, 5)  # hider moved 4 cells
    rew = g.step(seeker_0=MOVE_W)
    assert g.pos(1) == (s0[0], s0[1] - 1)
    assert rew == {"hider_0": -1.0, "seeker_0": 1.0}  # 360-degree vision on open floor: seen


@IMPLS
def test_reward_sign_and_zero_sum(impl) -> None:
    walled = """
    #########
    #H..#...#
    #H..#..S#
    #...#..S#
    #########
    """
    g = impl(walled, horizon=6, prep_fraction=0.0, view_cone=360, view_radius=10)
    rew = g.step()
    assert rew["hider_0"] == rew["hider_1"] == 1.0  # wall between: hidden
    assert rew["seeker_0"] == rew["seeker_1"] == -1.0
    assert sum(rew.values()) == 0.0


@IMPLS
def test_line_of_sight(impl) -> None:
    # seeker faces west along row 2; hider in the same row, 4 cells away
    base = """
    ###########
    #.........#
    #...H{}...S#
    #.........#
    ###########
    """
    opp = len(OBS_CHANNELS) - 1
    for between, seen in ((".", True), ("#", False), ("B", False), ("R", True)):
        g = impl(base.format(between), facing=[N_, W_], horizon=5, prep_fraction=0.0)
        rew = g.step()
        assert (rew["seeker_0"] == 1.0) is seen, between
        obs = g.obs("seeker_0")
        R = 5
        k = (R * 11 + (R - 5)) * len(OBS_CHANNELS)  # window cell 5 columns west of the centre
        assert obs[k + opp] == float(seen) and obs[k] == float(seen)
    # outside the cone (seeker facing east, away) and beyond the radius
    g = impl(base.format("."), facing=[N_, E_], horizon=5, prep_fraction=0.0)
    assert g.step()["seeker_0"] == -1.0
    g = impl(base.format("."), facing=[N_, W_], horizon=5, prep_fraction=0.0, view_radius=4)
    assert g.step()["seeker_0"] == -1.0


@IMPLS
def test_push_mechanics(impl) -> None:
    m = """
    ########
    #HB..B.#
    #......#
    #.HB#.S#
    ########
    """
    g = impl(m, horizon=20, prep_fraction=0.0)
    g.step(hider_0=MOVE_E)
    assert g.pos(0) == (1, 2) and g.obj(0) == (1, 3)  # pushed
    g.step(hider_0=MOVE_E)
    g.step(hider_0=MOVE_E)  # box now at (1,5)? no: box 0 hits box 1 at (1,5)
    assert g.obj(0) == (1, 4) and g.obj(1) == (1, 5) and g.pos(0) == (1, 3)
    g.step(hider_1=MOVE_E)  # box against a wall: neither moves
    assert g.pos(1) == (3, 2) and g.obj(2) == (3, 3)
    g.step()
    assert g.pos(0) == (1, 3)


@IMPLS
def test_grab_pull_and_push(impl) -> None:
    m = """
    #########
    #...HB..#
    #.......#
    #......S#
    #########
    """
    g = impl(m, facing=[E_, N_], horizon=20, prep_fraction=0.0)
    g.step(hider_0=GRAB)
    assert g.holding(0) == 0
    g.step(hider_0=MOVE_W)  # pull: agent backs off, box follows, facing kept
    assert g.pos(0) == (1, 3) and g.obj(0) == (1, 4)
    g.step(hider_0=MOVE_S)  # slide sideways together
    assert g.pos(0) == (2, 3) and g.obj(0) == (2, 4)
    g.step(hider_0=MOVE_E)  # push forward while holding
    assert g.pos(0) == (2, 4) and g.obj(0) == (2, 5)
    g.step(hider_0=GRAB)  # release
    assert g.holding(0) == -1
    g.step(hider_0=MOVE_W)
    assert g.pos(0) == (2, 3) and g.obj(0) == (2, 5)
    # grab disabled: the action does nothing
    g = impl(m, facing=[E_, N_], horizon=20, prep_fraction=0.0, allow_grab=False)
    g.step(hider_0=GRAB)
    g.step(hider_0=MOVE_W)
    assert g.holding(0) == -1 and g.obj(0) == (1, 5)


@IMPLS
def test_locking_by_team_only(impl) -> None:
    m = """
    #########
    #..HB...#
    #...S...#
    #.......#
    #########
    """
    g = impl(m, facing=[E_, N_], horizon=30, prep_fraction=0.0)
    g.step(hider_0=LOCK)
    assert g.lock(0) == HIDERS
    g.step(hider_0=MOVE_E)  # locked: even the locking team cannot push it
    assert g.obj(0) == (1, 4) and g.pos(0) == (1, 3)
    g.step(hider_0=GRAB)
    assert g.holding(0) == -1
    g.step(seeker_0=UNLOCK)  # seeker faces north, at the box: other team cannot unlock
    assert g.lock(0) == HIDERS
    g.step(seeker_0=MOVE_N)  # nor push it
    assert g.obj(0) == (1, 4) and g.pos(1) == (2, 4)
    g.step(seeker_0=LOCK)  # already locked: no effect
    assert g.lock(0) == HIDERS
    g.step(hider_0=UNLOCK)
    assert g.lock(0) == UNLOCKED
    g.step(seeker_0=LOCK)
    assert g.lock(0) == SEEKERS
    g.step(hider_0=UNLOCK)
    assert g.lock(0) == SEEKERS
    g.step(seeker_0=UNLOCK)
    g.step(seeker_0=MOVE_N)  # now the seeker pushes it north? wall there -> no move
    assert g.obj(0) == (1, 4)


@IMPLS
def test_ramp_crossing(impl) -> None:
    m = """
    #########
    #.....#.#
    #HR...#.#
    #...R.#S#
    #########
    """
    g = impl(m, facing=[E_, N_], horizon=30, prep_fraction=0.0)
    g.step(hider_0=MOVE_E)  # climb onto the ramp at (2,2)
    assert g.pos(0) == (2, 2)
    g.step(hider_0=MOVE_N)
    g.step(hider_0=MOVE_S)  # back onto the ramp
    assert g.pos(0) == (2, 2)
    for _ in range(3):
        g.step(hider_0=MOVE_E)  # walking off the ramp onto floor
    assert g.pos(0) == (2, 5)
    g.step(hider_0=MOVE_E)  # no ramp here: the wall stops the agent
    assert g.pos(0) == (2, 5)
    g.step(hider_0=MOVE_S)
    g.step(hider_0=MOVE_W)  # onto the second ramp at (3,4)
    assert g.pos(0) == (3, 4)
    # a ramp that is not next to the wall does not help
    g.step(hider_0=MOVE_E)
    g.step(hider_0=MOVE_E)
    assert g.pos(0) == (3, 5)
    m2 = """
    #########
    #....R#.#
    #....H#.#
    #.....#S#
    #########
    """
    g = impl(m2, facing=[N_, N_], horizon=30, prep_fraction=0.0)
    g.step(hider_0=MOVE_N)  # climb onto the ramp next to the wall
    assert g.pos(0) == (1, 5)
    g.step(hider_0=MOVE_E)  # cross over the wall at (1,6) to (1,7)
    assert g.pos(0) == (1, 7)
    g.step(hider_0=MOVE_W)  # no ramp on this side: cannot go back
    assert g.pos(0) == (1, 7)
    for _ in range(27):
        g.step()
    stats = g.episode_stats()
    assert stats["ramp_crossings_hiders"] == 1 and stats["ramp_crossings_seekers"] == 0
    # landing cell occupied by an agent: no crossing
    m3 = """
    #########
    #....R#S#
    #....H#.#
    #.......#
    #########
    """
    g = impl(m3, facing=[N_, N_], horizon=30, prep_fraction=0.0)
    g.step(hider_0=MOVE_N)
    g.step(hider_0=MOVE_E)
    assert g.pos(0) == (1, 5)


@IMPLS
def test_episode_stats_scripted(impl) -> None:
    m = """
    ##########
    #H.B.....#
    #........#
    #.......S#
    ##########
    """
    g = impl(m, facing=[E_, N_], horizon=10, prep_fraction=0.5, view_cone=360, view_radius=3)
    g.step(hider_0=MOVE_E)  # prep 1: walk
    g.step(hider_0=MOVE_E)  # prep 2: push box (1,3)->(1,4)
    g.step(hider_0=MOVE_E)  # prep 3: push box -> (1,5)
    g.step(hider_0=LOCK)  # prep 4: lock
    g.step(hider_0=UNLOCK)  # prep 5: unlock
    g.step(hider_0=MOVE_E)  # after 1: push -> (1,6)
    g.step(hider_0=LOCK)  # after 2: lock
    for _ in range(3):
        g.step()
    st = g.episode_stats()
    assert st["box_moves_prep"] == 2 and st["box_moves_after"] == 1
    assert st["box_displacement_prep"] == 2 and st["box_displacement_after"] == 1
    assert st["locks_hiders_prep"] == 1 and st["locks_hiders_after"] == 1 and st["unlocks_hiders"] == 1
    assert st["boxes_locked_hiders_end"] == 1 and st["locks_seekers_after"] == 0
    assert st["length"] == 10 and st["seen_steps"] + st["hidden_steps"] == 5
    assert st["hidden_fraction"] == st["hidden_steps"] / 5
    assert st["return_hiders"] == st["hidden_steps"] - st["seen_steps"] == -st["return_seekers"]


# ---- forts ---------------------------------------------------------------------------------
FORT = """
##########
#H..#....#
#...#....#
#...D...S#
#####....#
#........#
##########
"""


def _fort_state(door: str, lock: int, extra: str = ".") -> tuple:
    text = FORT.replace("D", door).replace("#........#\n##", f"#...{extra}....#\n##")
    init = scene(text)
    locks = np.full(len(init.obj_kind), lock)
    return init, locks


@pytest.mark.parametrize(
    "door,lock,extra,enclosed",
    [
        ("B", HIDERS, ".", True),  # doorway blocked by a box the hiders locked: a fort
        ("B", UNLOCKED, ".", False),  # unlocked box: seekers can push it away
        ("B", SEEKERS, ".", False),  # locked by the seekers: they can unlock it
        (".", UNLOCKED, ".", False),  # open doorway
        ("B", HIDERS, "R", False),  # hider-locked box but an unlocked ramp the seekers can reach
        ("B", HIDERS, "r", False),  # ... a seeker-locked ramp (they can unlock it)
        ("B", HIDERS, "x", True),  # ... a hider-locked ramp away from the fort: ramp locked away
    ],
)
def test_fort_detection(door: str, lock: int, extra: str, enclosed: bool) -> None:
    init, locks = _fort_state(door, lock, "R" if extra in "rx" else extra)
    ramp_lock = {"R": UNLOCKED, "r": SEEKERS, "x": HIDERS}.get(extra)
    if ramp_lock is not None:
        locks[init.obj_kind == 1] = ramp_lock
    got = hiders_enclosed(init.walls, init.obj_pos, init.obj_kind, locks, init.agent_pos, 1)
    assert got is enclosed
    batch = hiders_enclosed_batch(
        init.walls[None], init.obj_pos[None], init.obj_kind, locks[None], init.agent_pos[None], 1
    )
    assert batch.tolist() == [enclosed]


def test_fort_ramp_locked_away_vs_at_the_wall() -> None:
    far = FORT.replace("D", "B").replace("#........#\n##", "#.......R#\n##")
    near = FORT.replace("D", "B").replace("#....#\n#...B", "#R...#\n#...B")  # ramp at (2,5) by the fort wall
    for text, enclosed in ((far, True), (near, False)):
        init = scene(text)
        locks = np.full(len(init.obj_kind), HIDERS)  # everything locked by the hiders
        assert hiders_enclosed(init.walls, init.obj_pos, init.obj_kind, locks, init.agent_pos, 1) is enclosed
        assert hiders_enclosed_batch(
            init.walls[None], init.obj_pos[None], init.obj_kind, locks[None], init.agent_pos[None], 1
        ).tolist() == [enclosed]


@IMPLS
@pytest.mark.parametrize("lock,enclosed", [(True, 1.0), (False, 0.0)])
def test_fort_in_episode_stats(impl, lock: bool, enclosed: float) -> None:
    # hider at (3,2) pushes the box from (3,3) into the doorway (3,4), then (maybe) locks it
    text = FORT.replace("D", ".").replace("#H..#", "#...#").replace("#.......S#", "#.HB....S#")
    g = impl(text, facing=[E_, W_], horizon=8, prep_fraction=0.5)
    g.step(hider_0=MOVE_E)
    assert g.obj(0) == (3, 4)
    g.step(hider_0=LOCK if lock else NOOP)
    for _ in range(5):
        g.step(seeker_0=MOVE_W)
    assert g.obj(0) == (3, 4) and g.pos(1) == (3, 5)  # the seeker reached the box in the doorway
    g.step(seeker_0=MOVE_W)
    st = g.episode_stats()
    assert st["hiders_enclosed_prep_end"] == enclosed and st["hiders_enclosed_end"] == enclosed
    assert st["locks_hiders_prep"] == float(lock)
    if lock:
        assert st["hidden_fraction"] == 1.0


def test_fort_open_doorway_in_episode() -> None:
    g = Single(FORT.replace("D", "."), horizon=4, prep_fraction=0.5)
    for _ in range(4):
        g.step()
    assert g.episode_stats()["hiders_enclosed_end"] == 0.0


# ---- render --------------------------------------------------------------------------------
def test_render_and_gif(tmp_path) -> None:
    env = HideAndSeekEnv(render_mode="ansi")
    env.reset(seed=2)
    text = env.render()
    assert len(text.splitlines()) == 16 and text.count("h") >= 2 and "B" in text
    env = HideAndSeekEnv(render_mode="rgb_array", horizon=6)
    env.reset(seed=2)
    img = env.render()
    assert img.shape == (16 * 16, 16 * 16, 3) and img.dtype == np.uint8
    n = write_gif(str(tmp_path / "ep.gif"), env, seed=1)
    assert n == 7 and (tmp_path / "ep.gif").stat().st_size > 1000
    benv = HideAndSeekBatchedEnv(num_envs=2)
    benv.reset(seed=2)
    assert benv.render(1, "rgb_array").shape == img.shape


# ---- maps ----------------------------------------------------------------------------------
def _connected(walls: np.ndarray) -> bool:
    floor = {tuple(c) for c in np.argwhere(~walls).tolist()}
    start = next(iter(floor))
    seen, todo = {start}, [start]
    while todo:
        r, c = todo.pop()
        for nb in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if nb in floor and nb not in seen:
                seen.add(nb)
                todo.append(nb)
    return seen == floor


def test_scenarios_spawn_and_connectivity() -> None:
    rooms = HideAndSeekEnv(scenario="random_rooms", size=(14, 18), max_rooms=6)
    layouts = set()
    for seed in range(30):
        rooms.reset(seed=seed)
        assert _connected(rooms.walls)  # recursive division never cuts the map
        assert rooms.walls.sum() > 2 * (14 + 18) - 4  # some interior walls
        layouts.add(rooms.walls.tobytes())
        occupied = rooms.pos + rooms.obj_pos
        assert len(set(occupied)) == len(occupied) and not any(rooms.walls[c] for c in occupied)
    assert len(layouts) > 10  # maps come from the seed
    quad = HideAndSeekEnv(scenario="quadrant")
    for seed in range(10):
        quad.reset(seed=seed)
        assert _connected(quad.walls)
        in_room = [r < 8 and c < 8 for r, c in quad.pos + quad.obj_pos]
        # hiders and boxes inside the top-left room, seekers and ramps outside
        assert in_room == [True, True, False, False, True, True, False]
    text = "#######\n#H.S..#\n#..H.S#\n#######"
    env = HideAndSeekEnv(scenario=text, n_hiders=2, n_seekers=2, n_boxes=1)
    env.reset(seed=0)
    assert set(env.pos[:2]) == {(1, 1), (2, 3)} and set(env.pos[2:]) == {(1, 3), (2, 5)}
    assert len(env.obj_pos) == 1 and env.obj_pos[0] not in env.pos
