"""Scripted Overcooked roles: the lossless decoding they act on, their division of labour, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from diverse_marl import envs
from diverse_marl.crossplay import seat_player
from diverse_marl.envs.overcooked.roles import ROLES, RoleAgent, decode_lossless, potter
from diverse_marl.envs.overcooked.scripted import ScriptedCook
from diverse_marl.errors import ConfigError
from diverse_marl.rollout import play_batched

FIELDS = ("pos", "ori", "held", "held_onions", "held_tomatoes", "obj", "soup_onions", "soup_tomatoes", "soup_tick")
HORIZON = 200


@pytest.mark.parametrize("layout", ["cramped_room", "asymmetric_advantages"])
def test_decoding_the_lossless_state_recovers_the_kitchen(layout):
    """Scripted play (soups cook, are plated and delivered): every step decodes back, from both cooks' views."""
    env = envs.make("overcooked", layout=layout, horizon=300)
    cooks = [ScriptedCook(env.layout, p, epsilon=0.2, seed=p) for p in range(2)]
    env.reset()
    cooked = 0
    for _ in range(300):
        s = env.batch_state
        for p, agent in enumerate(env.possible_agents):
            d = decode_lossless(env.state(agent)[None], env.layout)
            for f in FIELDS:
                truth = getattr(s, f)
                if f in ("pos", "ori", "held", "held_onions", "held_tomatoes"):
                    truth = truth[:, [p, 1 - p]]  # the viewer is player 0 of the decoded kitchen
                np.testing.assert_array_equal(getattr(d, f), truth, err_msg=f"{f} from {agent}'s view")
        cooked += int((s.soup_tick >= 0).any())
        env.step({a: cooks[p].act(s, 0) for p, a in enumerate(env.possible_agents)})
    assert cooked > 0  # pots really cooked, so those planes were decoded too


def _sparse(a: str, b: str, seed: int = 0) -> float:
    cfg = {"layout": "cramped_room", "horizon": HORIZON}
    episodes = play_batched(
        "overcooked", cfg, {"agent_0": RoleAgent(a, seed=1), "agent_1": RoleAgent(b, seed=2)}, 3, seed=seed
    )
    return float(np.mean([e["sparse_return"] for e in episodes]))


def test_roles_divide_the_work():
    """A potter and a server deliver together; two potters or two servers never serve a soup."""
    assert _sparse("server", "server") == 0.0
    assert _sparse("potter", "potter") <= 20.0  # at most a soup plated by a random action
    together = _sparse("potter", "server")
    assert together >= 40.0 and together > 3 * _sparse("potter", "potter")
    assert _sparse("all_rounder", "all_rounder") >= 20.0
    assert _sparse("potter", "server") == together  # same seeds, same episodes


def test_roles_are_seat_fillers_and_read_lossless_observations():
    """By import path (as in --seat / partners), and on obs: lossless without the state view."""
    agent = seat_player("diverse_marl.envs.overcooked.roles:server", "agent_1", 6, {"layout": "cramped_room"}, seed=3)
    assert isinstance(agent, RoleAgent) and agent.role == "server"
    env = envs.make("overcooked", layout="cramped_room", obs="lossless")
    obs, _ = env.reset()
    a, b = potter({"layout": "cramped_room"}, seed=0), potter({"layout": "cramped_room"}, seed=0)
    a.reset(5), b.reset(5)
    for _ in range(30):
        acts = {"agent_0": a.act(obs["agent_0"]), "agent_1": b.act(env.state("agent_1"))}
        assert 0 <= acts["agent_0"] < 6
        obs, *_ = env.step(acts)
    assert set(ROLES) == {"potter", "server", "all_rounder"}


def test_bad_role_input_is_one_clear_error():
    with pytest.raises(ConfigError, match="unknown role 'chef'; allowed: potter, server, all_rounder"):
        RoleAgent("chef")
    with pytest.raises(ConfigError, match="lossless Overcooked grids"):
        RoleAgent("potter").act(np.zeros(96, np.float32))  # a featurized observation
    with pytest.raises(ConfigError, match="unknown scripted cook tasks"):
        ScriptedCook(envs.make("overcooked").layout, 0, tasks=("wash",))
