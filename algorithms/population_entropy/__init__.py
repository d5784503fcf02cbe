"""A population of MAPPO policies trained together with a population-entropy bonus (MEP's stage 1).

MEP (Zhao et al., "Maximum Entropy Population-Based Training for Zero-Shot Human-AI
Coordination", AAAI 2023) trains N members by self-play and rewards each for actions the
population as a whole seldom takes: ``r + alpha * -log pibar(a|s)``, with ``pibar`` the members'
mean action distribution at ``s``. Averaged over the members, that reward is the entropy of
``pibar(.|s)`` (``bonus.py``), so the population is pushed to cover many behaviours while each
member still plays the game well.

- ``bonus.py``      the math: log pibar(a|s), the bonus, H(pibar), pairwise member distances
- ``connector.py``  the learner connector adding the bonus to the rewards before GAE
- ``learner.py``    MAPPO's learner with that connector
- ``config.py``     the RLlib config: one module per member, episodes dealt to members in turn

The algorithm family ``mappo_population_entropy`` (``algorithms/family.py``) trains it from a
YAML config; ``method: mep`` (``algorithms/methods/mep.py``) writes that config for you.
"""
