"""Zero-shot coordination in Overcooked at a faithful reduced scale (issue 24): one resumable command.

    python -m bench.zsc --layouts asymmetric_advantages coordination_ring counter_circuit --seeds 0 1 2
    python -m bench.zsc --scale smoke --layouts cramped_room --seeds 0      # the whole pipeline, minutes
    python -m bench.zsc --plan                                                # budgets and hours, no training

Per layout (old dynamics, the rules the 2019 humans played), stages in order (``--stages`` picks some):

==============  ==================================================================================
eval_partners   biased partners from scratch, own seeds, weights HSP's sampler never draws (partners.py)
eval_selection  HSP's greedy max-min selection on their self-play event counts: the kept ones
bc              ``BC`` (training.half: bc) and ``H_proxy`` (half: proxy) behaviour clones
br              a best-response agent per evaluation partner (kept biased ones, scripted roles, H_proxy)
sp              MAPPO self-play: the agents' seeds, plus pool-only seeds for FCP
fcp             FCP agents against the SP pool (every SP run at its start, middle and end)
hsp_partners    HSP's biased partners ({-10, 0, 10} over HSP's events), shared by the agent seeds
hsp_selection   HSP's greedy max-min selection (drop non-delivering)
hsp             HSP adaptive agents against the kept partners (20% self-play)
mep             ``method: mep`` per seed (population entropy, prioritized partner sampling)
bcp             PPO_BC: MAPPO with the BC clone in seat agent_1
evaluation      every agent x every evaluation partner x both seats: sparse and BR-normalized return
==============  ==================================================================================

Run dirs live under ``runs/zsc/<layout>/`` (git-ignored): a finished job is reused, an interrupted one
resumes from its latest checkpoint (``diverse-marl train --resume``), so a killed bench continues where it
stopped. One heavy job at a time on the machine (a lock file in the system's temp dir,
``diverse-marl-heavy-job.lock``). Results
(``bench/results/zsc/zero_shot_coordination.json`` with every cell, the scale, the plan and each stage's wall
time and env steps; ``_bars.png``: IQM with 95% CIs per layout and partner kind; ``_heatmap.png``: agents x
partners) are rewritten atomically after every layout. Budgets and their arithmetic: ``scale.py``.
"""
