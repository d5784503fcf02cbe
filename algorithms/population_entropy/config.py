"""``PopulationEntropyMAPPOConfig``: N MAPPO policies trained together, with MEP's population-entropy bonus.

    config = (PopulationEntropyMAPPOConfig()
              .environment("overcooked", env_config={"layout": "cramped_room"})
              .training(members=4, population_entropy_coeff=0.01, num_envs_per_env_runner=32))
    algo = config.build_algo()         # modules member_00 .. member_03

Every member is its own RLModule (``member_00``, ``member_01``, ...) with its own optimizers, all in
one learner, so the bonus can read every member's current policy (``connector.py``). Env runners
deal episodes to the members in turn (:class:`MemberMapper`): the k-th episode a runner starts is
played in every seat by member ``k mod N`` (self-play). With ``num_envs_per_env_runner`` a multiple
of N and episodes of equal length (Overcooked), each env copy keeps its member, so every member
samples the same number of steps; ``train_batch_size`` counts the env steps of all members
together. Members must share one policy across seats (``policy_mapping: shared``) and be
feed-forward (``use_gru: false``).

``save_to_path`` writes one policy per member into the checkpoint's ``policies.json``
(``load_policy(checkpoint, "member_02")``); ``method: mep`` also exports each member as a
single-policy run dir.
"""

from __future__ import annotations

import copy
from typing import Any

from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

from diverse_marl.algorithms.mappo.config import MAPPOConfig
from diverse_marl.algorithms.mappo.options import SHARED_POLICY_ID
from diverse_marl.algorithms.population_entropy.learner import PopulationEntropyMAPPOLearner
from diverse_marl.errors import ConfigError

MEMBER_PREFIX = "member_"
MEMBER_MAPPING = "population_members"  # the policy_mapping written to policies.json
# option -> (default, one-line doc), beside MAPPO's own options
POPULATION_OPTIONS: dict[str, tuple[Any, str]] = {
    "members": (
        4,
        "population members trained together (MEP: N), policies member_00, member_01, ...; each episode is "
        "played in every seat by one member, dealt in turn",
    ),
    "population_entropy_coeff": (
        0.01,
        "alpha of MEP's population-entropy reward alpha * -log pibar(a|s), pibar the members' mean policy "
        "(Zhao et al. 2023); 0 = members trained side by side without it",
    ),
}
_ATTRIBUTES = {"members": "population_members", "population_entropy_coeff": "population_entropy_coeff"}


def member_id(index: int) -> str:
    return f"{MEMBER_PREFIX}{index:02d}"


def member_ids(members: int) -> list[str]:
    return [member_id(i) for i in range(members)]


class MemberMapper:
    """Picklable ``policy_mapping_fn``: deals episodes to the members in turn, one member per episode.

    Every agent of an episode maps to the same member (the mapping is asked once per agent, right
    after the episode is created, and RLlib keeps it for the episode). Each env runner deals its own
    episodes, starting at member 0, so a run is reproducible."""

    def __init__(self, members: int) -> None:
        self.members = int(members)
        self._episode: Any = None
        self._next = 0
        self._current = 0

    def __call__(self, agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
        key = getattr(episode, "id_", None)
        if key is None or key != self._episode:
            self._episode = key
            self._current = self._next
            self._next = (self._next + 1) % self.members
        return member_id(self._current)


class PopulationEntropyMAPPOConfig(MAPPOConfig):
    """MAPPOConfig training ``members`` policies side by side with the population-entropy bonus."""

    ALGORITHM = "mappo_population_entropy"

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class)
        self.population_members = POPULATION_OPTIONS["members"][0]
        self.population_entropy_coeff = POPULATION_OPTIONS["population_entropy_coeff"][0]
        self._member_template: tuple[Any, dict[str, Any]] | None = None  # the shared policy's spec and export

    def get_default_learner_class(self) -> type:
        return PopulationEntropyMAPPOLearner

    def training(self, **kwargs: Any) -> PopulationEntropyMAPPOConfig:
        """MAPPOConfig.training plus ``members`` and ``population_entropy_coeff``."""
        for key, attr in _ATTRIBUTES.items():
            value = kwargs.pop(key, NotProvided)
            if value is not NotProvided:
                setattr(self, attr, value)
        super().training(**kwargs)
        return self

    @staticmethod
    def option_defaults() -> dict[str, Any]:
        return {**MAPPOConfig.option_defaults(), **{k: v for k, (v, _) in POPULATION_OPTIONS.items()}}

    @staticmethod
    def option_docs() -> dict[str, str]:
        return {**MAPPOConfig.option_docs(), **{k: doc for k, (_, doc) in POPULATION_OPTIONS.items()}}

    def resolve(self) -> PopulationEntropyMAPPOConfig:
        """MAPPO's resolve, then one module per member (a copy of the shared policy's spec each)."""
        super().resolve()
        if self.mappo_env is not None:
            self._deal_to_members()
        return self

    def _deal_to_members(self) -> None:
        n, coeff = self.population_members, self.population_entropy_coeff
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"option 'members' must be a positive integer, got {n!r}")
        if isinstance(coeff, bool) or not isinstance(coeff, (int, float)) or coeff < 0:
            raise ConfigError(f"option 'population_entropy_coeff' must be a number >= 0, got {coeff!r}")
        o = self.option_values()
        if o["policy_mapping"] != "shared":
            raise ConfigError(
                f"a population-entropy population needs policy_mapping 'shared' (one policy per member plays "
                f"every seat), got {o['policy_mapping']!r}"
            )
        if o["use_gru"]:
            raise ConfigError("a population-entropy population needs feed-forward members; set use_gru: false")
        if self._member_template is None:
            spec = self.rl_module_spec.rl_module_specs[SHARED_POLICY_ID]
            self._member_template = (spec, dict(self.mappo_export["policies"][SHARED_POLICY_ID]))
        spec, export = self._member_template
        ids = member_ids(n)
        self.multi_agent(policies=list(ids), policy_mapping_fn=MemberMapper(n))
        self.rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={m: copy.deepcopy(spec) for m in ids}))
        self.mappo_export = {
            **self.mappo_export,
            "policy_mapping": MEMBER_MAPPING,
            "agents": {},
            "policies": {m: copy.deepcopy(export) for m in ids},
        }
