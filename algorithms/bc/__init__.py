"""Behaviour cloning of human play (``algorithm: bc``): the human proxy of Carroll et al. (2019).

A supervised policy per Overcooked layout, trained on the converted 2019 human-human trials
(``make human-data`` -> ``data/human/<layout>_<split>.json.gz``, see ``tools/human_data.py``):
featurized observations (overcooked_ai's 96 features, ``envs/overcooked/features.py``) -> the
human's action, both players' samples, an MLP trained with cross-entropy and early stopping on a
validation slice of the train split. Its run dir is like any other (config.yaml, metrics,
checkpoints in the safe format) plus ``report.md`` / ``bc_report.json`` with the test-split action
accuracy and the return of the policy paired with itself; ``load_policy`` / ``load_population``
read it, and the loaded policy applies the anti-stuck rule (:mod:`.policy`).

    name: bc-cramped_room
    algorithm: bc
    env: overcooked
    env_config: {layout: cramped_room, old_dynamics: true}
    stop: {iterations: 200}           # epochs at most; early stopping usually ends sooner
    training: {data_dir: data/human, hidden_sizes: [64, 64], lr: 0.001, patience: 20}

Modules: ``data`` (converted trials -> arrays), ``policy`` (the network, its checkpoint files and
the anti-stuck rule), ``trainer`` (the epoch loop, report) and ``family`` (the algorithm family
the config and the trainer ask). Only ``family`` is imported by the registry; it is light.
"""
