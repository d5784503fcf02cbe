"""The vector runner's episodes: per-copy bookkeeping and bulk building of ``MultiAgentEpisode`` s.

Why bulk: RLlib's runner calls ``MultiAgentEpisode.add_env_step`` per copy and per step. The
vector runner instead records numpy arrays for all copies during a ``sample()`` call
(:class:`Rollout`) and cuts them into per-copy episode chunks once at the end
(:class:`EpisodeAssembler`); ``tests/test_sampler.py`` checks that the chunks hold exactly
what ``add_env_step`` would have stored.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tree
from ray.rllib.core.columns import Columns
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.env.utils.infinite_lookback_buffer import InfiniteLookbackBuffer
from ray.rllib.utils.metrics import WEIGHTS_SEQ_NO

from diverse_marl.algorithms.mappo.connectors import TIME_LIMIT_KEY
from diverse_marl.algorithms.mappo.networks import MASK_KEY, OBS_KEY, STATE_KEY
from diverse_marl.algorithms.mappo.runner_env import DICT_STATE, PLAIN
from diverse_marl.envs.reward import DIVERSITY_STATE_KEY


class AgentIds(frozenset):
    """A frozenset of agent ids that iterates in the env's agent order.

    Why: RLlib builds the train batch by iterating ``episode.agent_ids``, a set; a set of strings
    iterates in an order that changes with ``PYTHONHASHSEED``, so the rows of the batch (and with
    them the minibatches and the learned weights) differed from one process to the next under the
    same seed.
    """

    def __new__(cls, ordered: Any) -> AgentIds:
        ids = super().__new__(cls, ordered)
        ids._order = tuple(ordered)
        return ids

    def __iter__(self) -> Iterator[Any]:
        return iter(self._order)

    def __reduce__(self):
        return (type(self), (self._order,))


class OrderedAgentsEpisode(MultiAgentEpisode):
    """A ``MultiAgentEpisode`` whose ``agent_ids`` iterate in insertion (env agent) order."""

    @property
    def agent_ids(self) -> AgentIds:
        return AgentIds(self.agent_episodes)


@dataclass
class EpisodeMeta:
    """What must survive between sample() calls for the episode running in one env copy."""

    episode: MultiAgentEpisode  # id_ and agent->module mapping of this episode
    env_t: int = 0  # env steps done in this episode
    agent_t: dict = field(default_factory=lambda: defaultdict(int))
    sa_ids: dict = field(default_factory=dict)
    returns: dict = field(default_factory=lambda: defaultdict(float))
    start_time: float = field(default_factory=time.perf_counter)
    state_out: dict = field(default_factory=dict)  # agent -> recurrent state after its last recorded step


@dataclass
class Rollout:
    """Numpy buffers of one sample() call; t indexes steps, first axis after t is the copy."""

    obs: dict = field(default_factory=lambda: defaultdict(list))  # agent -> [T+1 x (N,...)]
    state: dict = field(default_factory=lambda: defaultdict(list))  # agent -> [T+1 x (N,...)]
    mask: dict = field(default_factory=lambda: defaultdict(list))  # agent -> [T+1 x (N, A)] (masked agents)
    acting: dict = field(default_factory=lambda: defaultdict(list))  # agent -> [T x (N,)]
    actions: dict = field(default_factory=lambda: defaultdict(list))
    rewards: dict = field(default_factory=lambda: defaultdict(list))
    terms: dict = field(default_factory=lambda: defaultdict(list))
    truncs: dict = field(default_factory=lambda: defaultdict(list))
    extra: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))  # agent -> col -> [T x (N,...)]
    done: list = field(default_factory=list)  # [T x (N,)]
    final_obs: dict = field(default_factory=dict)  # (t, agent) -> (N,...)
    final_state: dict = field(default_factory=dict)
    final_mask: dict = field(default_factory=dict)
    final_diversity_state: dict = field(default_factory=dict)  # (t, agent) -> (N, D), where the env gives it
    metas: list = field(default_factory=list)  # copy -> metas of the episodes it ran, in order
    # agent -> [T+1 x (N, D)]: the env's diversity_state per observation, kept when SIPO asks (sampler)
    diversity_state: dict = field(default_factory=lambda: defaultdict(list))

    @property
    def num_steps(self) -> int:
        return len(self.done)

    def add_extra(self, agent: str, columns: dict[str, np.ndarray]) -> None:
        """Record this step's extra model outputs of ``agent`` (columns may appear late)."""
        buf = self.extra[agent]
        for col in set(columns) | set(buf):
            col_steps = buf[col]
            col_steps.extend([None] * (self.num_steps - len(col_steps)))  # column seen first now
            col_steps.append(columns.get(col))  # None: the agent acted in no copy

    def stack(self, agents: list[str], with_state: bool) -> Stacked:
        """(N, T(+1), ...) arrays, so that the slices of one copy are contiguous."""
        T = self.num_steps
        per_agent = lambda buf: {a: np.stack(buf[a], axis=1) for a in agents}  # noqa: E731
        return Stacked(
            obs=per_agent(self.obs),
            state=per_agent(self.state) if with_state else {},
            mask={a: np.stack(self.mask[a], axis=1) for a in self.mask},
            acting=per_agent(self.acting),
            actions=per_agent(self.actions),
            rewards=per_agent(self.rewards),
            terms=per_agent(self.terms),
            truncs=per_agent(self.truncs),
            extra={a: {c: _stack_filled(v, T) for c, v in self.extra[a].items()} for a in agents},
            done=np.stack(self.done, axis=1),
            diversity_state={a: np.stack(v, axis=1) for a, v in self.diversity_state.items()},
        )


@dataclass
class Stacked:
    """A rollout's buffers stacked per agent: obs/state (N, T+1, ...), the rest (N, T, ...)."""

    obs: dict
    state: dict
    mask: dict
    acting: dict
    actions: dict
    rewards: dict
    terms: dict
    truncs: dict
    extra: dict
    done: np.ndarray
    diversity_state: dict = field(default_factory=dict)


class EpisodeAssembler:
    """Starts episodes (fixing their agent->module mapping) and cuts rollouts into episode chunks."""

    def __init__(
        self, agents: list[str], layout: str, mapping_fn: Callable[..., str], obs_spaces: dict, action_spaces: dict
    ) -> None:
        self.agents = agents
        self.layout = layout
        self.mapping_fn = mapping_fn
        self.obs_spaces = obs_spaces
        self.action_spaces = action_spaces

    def new_meta(self) -> EpisodeMeta:
        ep = OrderedAgentsEpisode(
            observation_space=dict(self.obs_spaces),
            action_space=dict(self.action_spaces),
            agent_to_module_mapping_fn=self.mapping_fn,
        )
        meta = EpisodeMeta(episode=ep)
        for a in self.agents:
            ep.module_for(a)  # fix the agent->module mapping for the whole episode
            meta.sa_ids[a] = uuid.uuid4().hex
        return meta

    def chunks(
        self, ro: Rollout, num_envs: int, weights_seq_no: int
    ) -> Iterator[tuple[int, EpisodeMeta, MultiAgentEpisode, bool]]:
        """Per copy and episode: ``(copy, meta, chunk, episode_is_done)`` in rollout order."""
        T = ro.num_steps
        arr = ro.stack(self.agents, with_state=self.layout == DICT_STATE)
        for i in range(num_envs):
            ends = (np.nonzero(arr.done[i])[0] + 1).tolist()
            starts = [0] + ends
            stops = ends + ([T] if starts[-1] < T else [])
            for s, e, meta in zip(starts, stops, ro.metas[i]):
                is_done = bool(arr.done[i, e - 1])
                yield i, meta, self._chunk(i, s, e, is_done, meta, arr, ro, weights_seq_no), is_done

    def _chunk(
        self, i: int, s: int, e: int, is_done: bool, meta: EpisodeMeta, arr: Stacked, ro: Rollout, weights_seq_no: int
    ) -> MultiAgentEpisode:
        """One MultiAgentEpisode chunk: copy ``i``, rollout steps ``s..e-1`` of episode ``meta``."""
        ep = OrderedAgentsEpisode(
            id_=meta.episode.id_,
            observation_space=meta.episode.observation_space,
            action_space=meta.episode.action_space,
            agent_to_module_mapping_fn=self.mapping_fn,
            agent_module_ids=dict(meta.episode._agent_to_module_mapping),
            env_t_started=meta.env_t,
        )
        ep.env_t = meta.env_t + (e - s)
        for a in self.agents:
            act_mask = arr.acting[a][i, s:e]
            if not act_mask.any():
                continue  # the agent left the episode before this chunk
            steps = np.arange(s, e) if act_mask.all() else np.nonzero(act_mask)[0] + s
            k = len(steps)
            last = int(steps[-1])
            # the observation before each acted step, plus the one after the last acted step
            obs_idx = np.append(steps, last + 1)
            ended_here = bool(ro.done[last][i])  # then the obs after `last` is the env's final_obs
            o = arr.obs[a][i, obs_idx]
            if ended_here:
                o[-1] = ro.final_obs[(last, a)][i]
            observations: Any = o
            if self.layout != PLAIN:
                observations = {OBS_KEY: o}
                if self.layout == DICT_STATE:
                    st = arr.state[a][i, obs_idx]
                    if ended_here:
                        st[-1] = ro.final_state[(last, a)][i]
                    observations[STATE_KEY] = st
                if a in arr.mask:
                    m = arr.mask[a][i, obs_idx]
                    if ended_here:
                        m[-1] = ro.final_mask[(last, a)][i]
                    observations[MASK_KEY] = m
            term = bool(arr.terms[a][i, last])
            trunc = bool(arr.truncs[a][i, last]) and not term
            if is_done and last == e - 1 and not (term or trunc):
                trunc = True  # the env ended the episode for everyone
            rewards = arr.rewards[a][i, steps]
            extra = {c: tree.map_structure(lambda x: x[i, steps], v) for c, v in arr.extra[a].items()}  # noqa: B023
            extra[WEIGHTS_SEQ_NO] = np.full(k, weights_seq_no, np.int64)
            if Columns.STATE_OUT in extra:
                extra[Columns.STATE_OUT] = _with_state_lookback(extra[Columns.STATE_OUT], meta, a)
            else:
                meta.state_out.pop(a, None)  # random actions: no module ran
            infos = _infos(arr.diversity_state.get(a), i, obs_idx)
            if ended_here and (last, a) in ro.final_diversity_state:  # the state it ended in, not the reset one
                infos[-1] = {DIVERSITY_STATE_KEY: ro.final_diversity_state[(last, a)][i]}
            if trunc:  # the env's time limit (or the env for everyone) cut this agent's episode
                infos[-1] = {**infos[-1], TIME_LIMIT_KEY: True}
            ep.agent_episodes[a] = SingleAgentEpisode(
                id_=meta.sa_ids[a],
                observations=observations,
                observation_space=ep.observation_space[a],
                infos=infos,
                actions=arr.actions[a][i, steps],
                action_space=ep.action_space[a],
                rewards=rewards,
                terminated=term,
                truncated=trunc,
                extra_model_outputs=extra,
                t_started=meta.agent_t[a],
                len_lookback_buffer=0,
                agent_id=a,
                module_id=ep.module_for(a),
                multi_agent_episode_id=ep.id_,
            )
            ep.agent_t_started[a] = meta.agent_t[a]
            # RLlib maps env steps to the agent's *global* steps (the chunk starts at agent_t[a])
            ep.env_t_to_agent_t[a].data = (
                list(range(meta.agent_t[a], meta.agent_t[a] + k + 1))
                if act_mask.all()
                else _env_to_agent_t(obs_idx - s, e - s, meta.agent_t[a])
            )
            meta.agent_t[a] += k
            meta.returns[a] += float(rewards.sum())
        meta.env_t += e - s
        ep.is_terminated = is_done and all(sa.is_terminated for sa in ep.agent_episodes.values())
        ep.is_truncated = is_done and not ep.is_terminated
        ep._start_time, ep._last_step_time = meta.start_time, time.perf_counter()
        return ep


def _with_state_lookback(state_outs: Any, meta: EpisodeMeta, agent: str) -> Any:
    """A chunk's ``state_out`` column; if it continues an episode, with the state before its first
    step as a one-step lookback (as RLlib's runner keeps it; the learner's STATE_IN reads it)."""
    prev = meta.state_out.get(agent)
    meta.state_out[agent] = tree.map_structure(lambda x: x[-1], state_outs)
    if meta.agent_t[agent] == 0:  # the episode starts here: the learner uses the module's initial state
        return state_outs
    if prev is None:  # the previous chunk acted randomly (no module state): start from zeros
        prev = tree.map_structure(lambda x: np.zeros_like(x[0]), state_outs)
    data = tree.map_structure(lambda p, x: np.concatenate([p[None], x]), prev, state_outs)
    return InfiniteLookbackBuffer(data=data, lookback=1)


def _infos(diversity_state: np.ndarray | None, i: int, obs_idx: np.ndarray) -> list[dict]:
    """Per-observation infos of a chunk: empty, or the ``diversity_state`` the SIPO connector reads."""
    if diversity_state is None:
        return [{} for _ in obs_idx]
    return [{DIVERSITY_STATE_KEY: row} for row in diversity_state[i, obs_idx]]


def _stack_filled(steps: list, num_steps: int) -> Any:
    """Stack per-step (N, ...) arrays (or structures of them) along axis 1; missing steps (None) become zeros."""
    template = next(v for v in steps if v is not None)
    zeros = tree.map_structure(np.zeros_like, template)
    steps = [zeros if v is None else v for v in steps + [None] * (num_steps - len(steps))]
    return tree.map_structure(lambda *xs: np.stack(xs, axis=1), *steps)


def _env_to_agent_t(obs_times: np.ndarray, chunk_len: int, first_agent_t: int) -> list:
    """Env-step -> agent-step map of a chunk (RLlib's "S" = the agent has no obs at that env step)."""
    out: list = [MultiAgentEpisode.SKIP_ENV_TS_TAG] * (chunk_len + 1)
    for k, t in enumerate(obs_times.tolist()):
        out[t] = first_agent_t + k
    return out
