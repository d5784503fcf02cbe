"""Monster-Hunt: a grid-world stag hunt (Tang et al., "Discovering Diverse Multi-Agent Strategic
Behavior via Reward Randomization", ICLR 2021; after the Markov stag hunt of Peysakhovich & Lerer 2018).

Two agents on a 5x5 grid with one monster and two apples. The monster walks toward the nearer
agent. If both agents stand on the monster together, each gets +5 (a joint hunt); an agent that
meets the monster alone gets -2; an agent that steps on an apple eats it and gets +2. A caught
monster and an eaten apple reappear on a random free cell. Hunting together pays most but needs
trust; eating apples is the safe, risk-dominant strategy plain policy gradient settles on.

Rules, as in the authors' released code unless noted (every choice is an option or documented):

- Reset: agents, monster and apples on distinct uniformly random cells.
- Each step, in order: (1) the monster moves one cell toward the agent at the smaller (squared
  Euclidean) distance, measured before the agents move (a tie: a fair coin picks the agent, where
  the released code always picks the first agent, which would make the agents unequal); if
  that agent differs in both row and column, a fair coin picks the axis (the released code also
  steers the monster around apples; here it may share a cell with an apple); (2) the agents move
  (stay / up / down / left / right; a move off the grid stays); agents may share a cell;
  (3) the monster is on both agents' cell: a joint hunt for both; on one agent's cell: a solo
  meeting for that agent; an apple under an agent is eaten by it (both agents on it: a fair coin
  picks the eater); (4) a caught monster, then each eaten apple (in index order), reappears on a
  uniformly random cell free of agents, monster and apples.
- Rewards: ``joint_hunt_reward`` (5), ``solo_meeting_reward`` (-2), ``apple_reward`` (2), the
  values the paper states. (The released code scales rewards by 0.1 and, as written, pays +2 for
  meeting the monster alone and -2 for an apple; we follow the paper.) An agent on the monster and
  an apple gets both.
- Episodes last ``horizon`` = 50 steps (the released training scripts), then truncate.
- Observation (as in the released code, plus the time): own, partner's, monster's and each apple's
  (row, col), divided by ``size - 1``, then ``t / horizon``; float32 in [0, 1].
- ``state()``: per agent its observation (which already shows the whole grid) and its one-hot id.

Randomness, shared by both forms so they agree step by step: ``reset`` draws the start cells
(``rng.choice``) and then one block of uniforms for the whole episode, ``(horizon, 4 + n_apples)``:
per step the target coin, the axis coin, the apple-eater coin, the monster's respawn and each
apple's respawn (a uniform u picks free cell ``int(u * n_free)`` in row-major order). A seeded
reset starts the stream from the seed; an unseeded one continues it.

Reward features per agent and step: ``joint_hunt``, ``solo_meeting``, ``apple`` (counts);
``reward_weights`` over them replace the reward (see ``diverse_marl.envs.reward``). Episode
statistics on the last step (``infos[agent]["episode_stats"]``): ``joint_hunts``,
``solo_meetings``, ``apples`` of that agent.

:class:`MonsterHuntEnv` is the reference (one game, plain Python); :class:`MonsterHuntBatchedEnv`
steps N games at once in numpy (the ``BatchedEnv`` protocol of ``diverse_marl.envs.batched``) and
is the env's ``batched`` attribute, so ``make_batched`` and the fast MAPPO sampler use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from diverse_marl.envs.batched import derive_seed
from diverse_marl.envs.reward import FEATURES_KEY, ORIGINAL_KEY, ORIGINAL_RETURN_KEY, WeightedReward
from diverse_marl.errors import ConfigError

AGENTS = ("agent_0", "agent_1")
ACTION_NAMES = ("stay", "up", "down", "left", "right")
MOVES = np.array([(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)], dtype=np.int64)  # (d_row, d_col) per action
FEATURE_NAMES = ("joint_hunt", "solo_meeting", "apple")
JOINT, SOLO, APPLE = range(len(FEATURE_NAMES))
STAT_NAMES = ("joint_hunts", "solo_meetings", "apples")  # episode totals of the features, per agent
PAYOFF_OPTIONS = ("joint_hunt_reward", "solo_meeting_reward", "apple_reward")  # in FEATURE_NAMES order
# columns of the per-step uniforms (module docstring); apple k's respawn is column U_APPLE_SPAWN + k
U_TARGET, U_AXIS, U_EATER, U_MONSTER_SPAWN, U_APPLE_SPAWN = range(5)
MONSTER = 2  # entity order in positions: agent_0, agent_1, monster, apples


@dataclass(frozen=True)
class Layout:
    """Validated size options shared by the single and the batched env."""

    size: int = 5
    n_apples: int = 2
    horizon: int = 50

    def __post_init__(self) -> None:
        for name in ("size", "n_apples", "horizon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ConfigError(f"monster_hunt option {name} must be an integer, got {value!r}")
        if self.size < 2:
            raise ConfigError(f"monster_hunt size must be >= 2, got {self.size}")
        if self.n_apples < 0:
            raise ConfigError(f"monster_hunt n_apples must be >= 0, got {self.n_apples}")
        if self.horizon < 1:
            raise ConfigError(f"monster_hunt horizon must be >= 1, got {self.horizon}")
        if self.n_entities > self.size * self.size:
            raise ConfigError(
                f"monster_hunt: {self.n_entities} entities (2 agents, the monster, {self.n_apples} "
                f"apples) do not fit on a {self.size}x{self.size} grid; allowed n_apples: "
                f"0..{self.size * self.size - 3}"
            )

    @property
    def n_entities(self) -> int:
        return 3 + self.n_apples

    @property
    def n_uniforms(self) -> int:
        return U_APPLE_SPAWN + self.n_apples

    @property
    def obs_size(self) -> int:
        return 2 * self.n_entities + 1

    def draw_episode(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Start positions (n_entities, 2) and the episode's uniforms (horizon, n_uniforms)."""
        cells = rng.choice(self.size * self.size, size=self.n_entities, replace=False)
        uniforms = rng.random((self.horizon, self.n_uniforms))
        return np.stack(np.divmod(cells, self.size), axis=-1).astype(np.int64), uniforms

    def observe(self, pos: np.ndarray, t: np.ndarray | int) -> dict[str, np.ndarray]:
        """Observations from positions ``(..., n_entities, 2)`` and step counts ``(...)``, per agent."""
        pos = np.asarray(pos, dtype=np.float64) / (self.size - 1)
        time = np.asarray(t, dtype=np.float64)[..., None] / self.horizon
        out = {}
        for i, agent in enumerate(AGENTS):
            order = [i, 1 - i, *range(MONSTER, self.n_entities)]
            flat = pos[..., order, :].reshape(*pos.shape[:-2], -1)
            out[agent] = np.concatenate([flat, time], axis=-1).astype(np.float32)
        return out

    @staticmethod
    def states(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Agent-specific global state: the agent's observation (the whole grid) and its one-hot id."""
        out = {}
        for i, agent in enumerate(AGENTS):
            one_hot = np.zeros((*obs[agent].shape[:-1], len(AGENTS)), dtype=np.float32)
            one_hot[..., i] = 1.0
            out[agent] = np.concatenate([obs[agent], one_hot], axis=-1)
        return out

    def picture(self, pos: np.ndarray) -> list[str]:
        """Text grid: ``.`` free, ``M`` monster, ``a`` apple, ``0``/``1`` agents, ``B`` both agents, ``*``
        agent(s) with the monster or an apple."""
        grid = [["."] * self.size for _ in range(self.size)]
        for k in range(MONSTER + 1, self.n_entities):
            grid[pos[k][0]][pos[k][1]] = "a"
        grid[pos[MONSTER][0]][pos[MONSTER][1]] = "M"
        for i in range(len(AGENTS)):
            r, c = pos[i]
            grid[r][c] = {".": str(i), "0": "B", "1": "B"}.get(grid[r][c], "*")
        return ["".join(row) for row in grid]


def _check_payoffs(values: dict[str, Any]) -> dict[str, float]:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ConfigError(f"monster_hunt option {name} must be a number, got {value!r}")
    return {k: float(v) for k, v in values.items()}


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


class _MonsterHuntGame(WeightedReward):
    """What both forms share: validated options, payoffs (settable as reward parameters), spaces."""

    FEATURE_NAMES = FEATURE_NAMES
    ACTION_NAMES = ACTION_NAMES  # what the analysis calls the actions
    REWARD_PARAMS = PAYOFF_OPTIONS

    def _init_game(
        self,
        layout: Layout,
        payoffs: tuple[float, float, float],
        reward_weights: dict[str, float] | None,
        render_mode: str | None,
    ) -> None:
        self.layout = layout
        checked = _check_payoffs(dict(zip(PAYOFF_OPTIONS, payoffs)))
        self.joint_hunt_reward, self.solo_meeting_reward, self.apple_reward = checked.values()
        if render_mode not in (None, "ansi"):
            raise ConfigError(f"unknown render_mode {render_mode!r}; allowed: None, 'ansi'")
        self.render_mode = render_mode
        self._init_weights(reward_weights)
        self.possible_agents = list(AGENTS)
        self._obs_space = spaces.Box(0.0, 1.0, (layout.obs_size,), np.float32)
        self._state_space = spaces.Box(0.0, 1.0, (layout.obs_size + len(AGENTS),), np.float32)
        self._act_space = spaces.Discrete(len(ACTION_NAMES))

    def _payoff_vector(self) -> np.ndarray:
        """The game's own reward per feature, in FEATURE_NAMES order."""
        return np.array([self.joint_hunt_reward, self.solo_meeting_reward, self.apple_reward])

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    def state_space(self, agent: str | None = None) -> spaces.Box:
        return self._state_space


class MonsterHuntEnv(_MonsterHuntGame, ParallelEnv):
    """Monster-Hunt for ``agent_0`` and ``agent_1`` (rules, spaces and features: module docstring).

    Options: ``size`` (grid side), ``n_apples``, ``horizon`` (steps per episode), the three
    payoffs ``joint_hunt_reward`` / ``solo_meeting_reward`` / ``apple_reward`` (also settable
    during training through ``set_reward_params``), ``reward_weights``, ``render_mode`` (``ansi``).
    """

    metadata = {"name": "monster_hunt_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(
        self,
        size: int = 5,
        n_apples: int = 2,
        horizon: int = 50,
        joint_hunt_reward: float = 5.0,
        solo_meeting_reward: float = -2.0,
        apple_reward: float = 2.0,
        reward_weights: dict[str, float] | None = None,
        render_mode: str | None = None,
    ) -> None:
        self._init_game(
            Layout(size, n_apples, horizon),
            (joint_hunt_reward, solo_meeting_reward, apple_reward),
            reward_weights,
            render_mode,
        )
        self.agents: list[str] = []
        self._rng: np.random.Generator | None = None
        self._pos: list[tuple[int, int]] = []  # agent_0, agent_1, monster, apples
        self._uniforms = np.zeros((0, self.layout.n_uniforms))
        self._t = 0
        self._counts = np.zeros((len(AGENTS), len(FEATURE_NAMES)), dtype=np.int64)

    @classmethod
    def batched(cls, num_envs: int, **env_config: Any) -> MonsterHuntBatchedEnv:
        """The numpy batched form with the same options (used by ``make_batched`` and the fast sampler)."""
        return MonsterHuntBatchedEnv(num_envs=num_envs, **env_config)

    # ---- game ---------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        start, self._uniforms = self.layout.draw_episode(self._rng)
        self._pos = [(int(r), int(c)) for r, c in start]
        self._t = 0
        self._counts[:] = 0
        self.agents = list(self.possible_agents)
        return self._observe(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        acts = [self._action(agent, actions) for agent in AGENTS]
        u = self._uniforms[self._t]
        size = self.layout.size
        agents, monster, apples = self._pos[:MONSTER], self._pos[MONSTER], self._pos[MONSTER + 1 :]
        # (1) the monster moves toward the nearer agent (positions before the agents move)
        dist = [(r - monster[0]) ** 2 + (c - monster[1]) ** 2 for r, c in agents]
        target = 0 if dist[0] < dist[1] else 1 if dist[1] < dist[0] else int(u[U_TARGET] >= 0.5)
        d_row, d_col = _sign(agents[target][0] - monster[0]), _sign(agents[target][1] - monster[1])
        if d_row and d_col:
            d_row, d_col = (d_row, 0) if u[U_AXIS] < 0.5 else (0, d_col)
        monster = (monster[0] + d_row, monster[1] + d_col)
        # (2) the agents move; a move off the grid stays
        agents = [
            (min(max(r + int(MOVES[a][0]), 0), size - 1), min(max(c + int(MOVES[a][1]), 0), size - 1))
            for (r, c), a in zip(agents, acts)
        ]
        # (3) meetings and apples
        features = np.zeros((len(AGENTS), len(FEATURE_NAMES)))
        on_monster = [pos == monster for pos in agents]
        if all(on_monster):
            features[:, JOINT] = 1.0
        for i in range(len(AGENTS)):
            if on_monster[i] and not all(on_monster):
                features[i, SOLO] = 1.0
        eaten = []
        for k, apple in enumerate(apples):
            eaters = [i for i, pos in enumerate(agents) if pos == apple]
            if eaters:
                eater = eaters[0] if len(eaters) == 1 else int(u[U_EATER] >= 0.5)
                features[eater, APPLE] += 1.0
                eaten.append(k)
        # (4) the caught monster, then eaten apples, reappear on free cells
        occupied = set(agents) | {monster} | set(apples)
        if any(on_monster):
            monster = self._free_cell(u[U_MONSTER_SPAWN], occupied)
            occupied.add(monster)
        for k in eaten:
            apples[k] = self._free_cell(u[U_APPLE_SPAWN + k], occupied)
            occupied.add(apples[k])
        self._pos = [*agents, monster, *apples]
        self._t += 1
        self._counts += features.astype(np.int64)
        done = self._t >= self.layout.horizon
        payoff = self._payoff_vector()
        rewards, infos = {}, {}
        for i, agent in enumerate(AGENTS):
            feats = dict(zip(FEATURE_NAMES, features[i].tolist()))
            original = float(features[i] @ payoff)
            rewards[agent] = original if self.weights is None else self.weights.dot(feats)
            infos[agent] = {FEATURES_KEY: feats, ORIGINAL_KEY: original}
            if done:
                infos[agent]["episode_stats"] = self.episode_stats(i)
        obs = self._observe()
        terms = {a: False for a in AGENTS}
        truncs = {a: done for a in AGENTS}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def place(self, agents: Any, monster: Any, apples: Any, coins: float | None = None) -> dict[str, np.ndarray]:
        """Put the agents, monster and apples on given (row, col) cells mid-episode (scripted scenes,
        tests); ``coins`` in [0, 1) fixes the rest of the episode's uniforms. Returns the observations."""
        if not self.agents:
            raise ConfigError("place() needs a running episode: call reset() first")
        pos = [tuple(int(x) for x in p) for p in [*agents, monster, *apples]]
        size = self.layout.size
        if len(pos) != self.layout.n_entities or any(
            len(p) != 2 or not (0 <= p[0] < size and 0 <= p[1] < size) for p in pos
        ):
            raise ConfigError(
                f"place() needs {len(AGENTS)} agent cells, one monster cell and {self.layout.n_apples} "
                f"apple cells, each (row, col) in 0..{size - 1}; got {pos}"
            )
        self._pos = pos
        if coins is not None:
            self._uniforms[self._t :] = float(coins)
        return self._observe()

    def _action(self, agent: str, actions: dict[str, Any]) -> int:
        a = actions.get(agent)
        if a is None or int(a) not in range(len(ACTION_NAMES)):
            allowed = ", ".join(f"{k} ({name})" for k, name in enumerate(ACTION_NAMES))
            raise ConfigError(f"illegal action {a!r} for {agent}; allowed: {allowed}")
        return int(a)

    def _free_cell(self, u: float, occupied: set[tuple[int, int]]) -> tuple[int, int]:
        size = self.layout.size
        free = [(r, c) for r in range(size) for c in range(size) if (r, c) not in occupied]
        return free[int(u * len(free))]

    # ---- views --------------------------------------------------------------------------
    def _observe(self) -> dict[str, np.ndarray]:
        return self.layout.observe(np.array(self._pos), self._t)

    def state(self) -> dict[str, np.ndarray]:
        """Agent-specific global states (see ``state_space``)."""
        return self.layout.states(self._observe())

    def episode_stats(self, agent_index: int) -> dict[str, float]:
        """The agent's joint hunts, solo meetings and apples so far this episode."""
        return {name: float(n) for name, n in zip(STAT_NAMES, self._counts[agent_index])}

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        totals = ", ".join(f"{name}={int(n)}" for name, n in zip(STAT_NAMES, self._counts.sum(0)))
        return "\n".join([*self.layout.picture(self._pos), f"t={self._t}/{self.layout.horizon} {totals}"])


class MonsterHuntBatchedEnv(_MonsterHuntGame):
    """``num_envs`` Monster-Hunt games stepped at once in numpy (same options as :class:`MonsterHuntEnv`).

    Copy i of ``reset(seed)`` is seeded with ``derive_seed(seed, i)`` and then plays exactly as a
    ``MonsterHuntEnv`` reset with that seed (and auto-reset without one) given the same actions.
    ``infos["episode"]`` adds ``"<agent>/joint_hunts"``, ``"<agent>/solo_meetings"`` and
    ``"<agent>/apples"`` to the protocol's returns, length and ``original_return``.
    """

    def __init__(
        self,
        num_envs: int = 64,
        size: int = 5,
        n_apples: int = 2,
        horizon: int = 50,
        joint_hunt_reward: float = 5.0,
        solo_meeting_reward: float = -2.0,
        apple_reward: float = 2.0,
        reward_weights: dict[str, float] | None = None,
        render_mode: str | None = None,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ConfigError(f"num_envs={num_envs!r} must be an integer >= 1")
        lay = Layout(size, n_apples, horizon)
        self._init_game(lay, (joint_hunt_reward, solo_meeting_reward, apple_reward), reward_weights, render_mode)
        self.num_envs = N = int(num_envs)
        self.rows = np.arange(N)
        self.rngs = [np.random.default_rng() for _ in range(N)]
        self.pos = np.zeros((N, lay.n_entities, 2), dtype=np.int64)
        self.uniforms = np.zeros((N, lay.horizon, lay.n_uniforms))
        self.t = np.zeros(N, dtype=np.int64)
        self.counts = np.zeros((N, len(AGENTS), len(FEATURE_NAMES)), dtype=np.int64)
        self.returns = np.zeros((N, len(AGENTS)), dtype=np.float64)  # of the rewards given (weighted or not)
        self.original_returns = np.zeros(N, dtype=np.float64)

    # ---- protocol -----------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> tuple[dict[str, np.ndarray], dict]:
        """Reset every copy; copy i gets seed ``derive_seed(seed, i)`` when a seed is given."""
        if seed is not None:
            self.rngs = [np.random.default_rng(derive_seed(seed, i)) for i in range(self.num_envs)]
        for i in range(self.num_envs):
            self._reset_copy(i)
        return self._observe(), {}

    def step(self, actions: dict[str, np.ndarray]):
        """Step every copy; finished copies are reset in the same call (``BatchedEnv`` protocol)."""
        lay, N = self.layout, self.num_envs
        acts = np.stack([self._actions(agent, actions) for agent in AGENTS], axis=1)  # (N, 2)
        u = self.uniforms[self.rows, self.t]  # (N, n_uniforms)
        agents, monster = self.pos[:, :MONSTER], self.pos[:, MONSTER]
        # (1) the monster moves toward the nearer agent
        dist = ((agents - monster[:, None]) ** 2).sum(-1)
        target = np.where(dist[:, 0] < dist[:, 1], 0, np.where(dist[:, 1] < dist[:, 0], 1, u[:, U_TARGET] >= 0.5))
        step = np.sign(agents[self.rows, target] - monster)
        diagonal = (step != 0).all(1)
        by_row = u[:, U_AXIS] < 0.5
        step[diagonal & by_row, 1] = 0
        step[diagonal & ~by_row, 0] = 0
        monster = monster + step
        # (2) the agents move
        agents = np.clip(agents + MOVES[acts], 0, lay.size - 1)
        # (3) meetings and apples
        features = np.zeros((N, len(AGENTS), len(FEATURE_NAMES)))
        on_monster = (agents == monster[:, None]).all(-1)  # (N, 2)
        joint = on_monster.all(1)
        features[:, :, JOINT] = joint[:, None]
        features[:, :, SOLO] = on_monster & ~joint[:, None]
        apples = self.pos[:, MONSTER + 1 :]
        on_apple = (agents[:, :, None] == apples[:, None]).all(-1)  # (N, agent, apple)
        shared = on_apple.all(1)  # both agents on one apple: the coin picks the eater
        coin = (u[:, U_EATER] >= 0.5)[:, None]
        features[:, 0, APPLE] = (on_apple[:, 0] & ~(shared & coin)).sum(1)
        features[:, 1, APPLE] = (on_apple[:, 1] & ~(shared & ~coin)).sum(1)
        # (4) respawns on free cells
        pos = np.concatenate([agents, monster[:, None], apples], axis=1)
        occupied = np.zeros((N, lay.size * lay.size), dtype=bool)
        for k in range(lay.n_entities):
            occupied[self.rows, pos[:, k, 0] * lay.size + pos[:, k, 1]] = True
        self._respawn(pos, occupied, on_monster.any(1), MONSTER, u[:, U_MONSTER_SPAWN])
        eaten = on_apple.any(1)
        for k in range(lay.n_apples):
            self._respawn(pos, occupied, eaten[:, k], MONSTER + 1 + k, u[:, U_APPLE_SPAWN + k])
        self.pos = pos
        self.t += 1
        self.counts += features.astype(np.int64)
        original_all = features @ self._payoff_vector()  # (N, 2)
        given = original_all if self.weights is None else features @ self.weights.vector
        self.returns += given
        self.original_returns += original_all.sum(1)
        original = {agent: original_all[:, i].astype(np.float32) for i, agent in enumerate(AGENTS)}
        rewards = {agent: given[:, i].astype(np.float32) for i, agent in enumerate(AGENTS)}
        done = self.t >= lay.horizon
        final_obs = self._observe()
        final_state = lay.states(final_obs)
        episode = self._episode_totals()
        obs = final_obs
        if done.any():
            for i in np.nonzero(done)[0]:
                self._reset_copy(int(i))
            obs = self._observe()
        infos = {
            "done": done,
            "final_obs": final_obs,
            "final_state": final_state,
            "episode": episode,
            ORIGINAL_KEY: original,
        }
        terms = {agent: np.zeros(N, dtype=bool) for agent in AGENTS}
        truncs = {agent: done.copy() for agent in AGENTS}
        return obs, rewards, terms, truncs, infos

    def state(self) -> dict[str, np.ndarray]:
        """Agent-specific global state of every copy, (N, state_size) per agent."""
        return self.layout.states(self._observe())

    def render(self, index: int = 0) -> str:
        """Text picture of copy ``index``."""
        totals = ", ".join(f"{name}={int(n)}" for name, n in zip(STAT_NAMES, self.counts[index].sum(0)))
        lines = self.layout.picture(self.pos[index].tolist())
        return "\n".join([*lines, f"t={int(self.t[index])}/{self.layout.horizon} {totals}"])

    # ---- helpers ------------------------------------------------------------------------
    def _actions(self, agent: str, actions: dict[str, np.ndarray]) -> np.ndarray:
        if agent not in actions:
            raise ConfigError(f"missing actions for agent {agent!r}; expected keys: {', '.join(AGENTS)}")
        acts = np.asarray(actions[agent]).astype(np.int64).reshape(-1)
        if acts.shape != (self.num_envs,) or ((acts < 0) | (acts >= len(ACTION_NAMES))).any():
            raise ConfigError(
                f"actions of {agent!r} must be {self.num_envs} ints in 0..{len(ACTION_NAMES) - 1} "
                f"({', '.join(ACTION_NAMES)}), got {actions[agent]!r}"
            )
        return acts

    def _reset_copy(self, i: int) -> None:
        self.pos[i], self.uniforms[i] = self.layout.draw_episode(self.rngs[i])
        self.t[i] = 0
        self.counts[i] = 0
        self.returns[i] = 0.0
        self.original_returns[i] = 0.0

    def _respawn(self, pos: np.ndarray, occupied: np.ndarray, where: np.ndarray, entity: int, u: np.ndarray) -> None:
        """Move ``entity`` of the copies ``where`` to free cell ``int(u * n_free)`` (row-major); mark it taken."""
        rows = np.nonzero(where)[0]
        if not len(rows):
            return
        free = ~occupied[rows]
        k = (u[rows] * free.sum(1)).astype(np.int64)
        cell = (np.cumsum(free, axis=1) > k[:, None]).argmax(1)
        occupied[rows, cell] = True
        pos[rows, entity] = np.stack(np.divmod(cell, self.layout.size), axis=-1)

    def _observe(self) -> dict[str, np.ndarray]:
        return self.layout.observe(self.pos, self.t)

    def _episode_totals(self) -> dict[str, np.ndarray]:
        """Per-copy episode totals (valid where the episode just ended)."""
        episode: dict[str, np.ndarray] = {
            f"return/{agent}": self.returns[:, i].copy() for i, agent in enumerate(AGENTS)
        }
        episode["length"] = self.t.copy()
        episode[ORIGINAL_RETURN_KEY] = self.original_returns.copy()
        for i, agent in enumerate(AGENTS):
            for k, name in enumerate(STAT_NAMES):
                episode[f"{agent}/{name}"] = self.counts[:, i, k].astype(np.float64)
        return episode
