"""One definition of an env's options, read by its single form, its batched form and the registry.

An env's options are the fields of one frozen dataclass (name, default, type; checks in its
``__post_init__``). The single and the batched env classes take them as keywords and build the
dataclass; :func:`options_signature` gives both classes the dataclass's fields as their signature,
which is what the registry reads (``envs.make`` checks keywords against it, ``diverse-marl envs``
lists the options and their defaults).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from diverse_marl.errors import ConfigError, did_you_mean

T = TypeVar("T")


def keyword(name: str, default: Any = None, annotation: Any = inspect.Parameter.empty) -> inspect.Parameter:
    """A keyword an env class takes besides its options (``reward_weights``, ``render_mode``)."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def options_signature(
    options_cls: type, leading: Sequence[inspect.Parameter] = (), trailing: Sequence[inspect.Parameter] = ()
) -> inspect.Signature:
    """``leading`` parameters (the batched form's ``num_envs``), one keyword per option, then ``trailing``."""
    fields = [keyword(f.name, f.default, f.type) for f in dataclasses.fields(options_cls)]
    return inspect.Signature([*leading, *fields, *trailing])


def parse_options(options_cls: type[T], values: Mapping[str, Any], env: str, also: Sequence[str] = ()) -> T:
    """``options_cls(**values)``; an unknown key is one ConfigError naming it and the allowed keywords
    (the options and ``also``, the env class's other keywords)."""
    names = [f.name for f in dataclasses.fields(options_cls)]
    for key in values:
        if key not in names:
            allowed = ", ".join([*names, *also])
            raise ConfigError(f"unknown option {key!r} for env {env!r}{did_you_mean(key, names)}; allowed: {allowed}")
    return options_cls(**values)


def num_envs_parameter(default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    """The batched form's first parameter, ``num_envs``."""
    return inspect.Parameter("num_envs", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation="int")
