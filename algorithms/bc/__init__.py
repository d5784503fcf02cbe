"""Behaviour cloning of human play (``algorithm: bc``): the human proxy of Carroll et al. (2019).

A supervised policy per Overcooked layout, trained on the converted 2019 human-human trials
(``make human-data`` -> ``data/human/<layout>_<split>.json.gz``, see ``tools/human_data.py``):
featurized observations (overcooked_ai's 96 features, ``envs/overcooked/features.py``) plus the
cook's own last ``history`` actions -> the human's action, both players' samples, an MLP trained
with cross-entropy and early stopping on held-out trials. ``training.half`` picks the human pairs:
``bc`` (overcooked-ai's train file; the partner an agent trains with, BCP) or ``proxy`` (its test
file; ``H_proxy``, the evaluation partner); the other half is the held-out data. Its run dir is like
any other (config.yaml, metrics, checkpoints in the safe format) plus ``report.md`` /
``bc_report.json`` (held-out accuracy and cross-entropy beside the majority-action and marginal
baselines, and the return of the policy paired with itself); ``load_policy`` / ``load_population``
read it; the loaded policy keeps its action history and applies the anti-stuck rule (:mod:`.policy`).
The validity report over halves and seeds is ``diverse_marl.analysis.human_proxy``.

    name: bc-cramped_room
    algorithm: bc
    env: overcooked
    env_config: {layout: cramped_room, old_dynamics: true}
    stop: {iterations: 200}           # epochs at most; early stopping usually ends sooner
    training: {data_dir: data/human, half: proxy, history: 3, hidden_sizes: [64, 64], patience: 15}

Modules: ``data`` (converted trials -> arrays, the halves), ``validity`` (metrics and baselines),
``policy`` (the network, its checkpoint files, history and anti-stuck rule), ``trainer`` (the epoch
loop, report) and ``family`` (the algorithm family the config and the trainer ask). Only ``family``
is imported by the registry; it is light.
"""
