"""Gymnasium spaces <-> plain JSON, so checkpoints describe observation spaces without pickles.

Covers Box, Discrete, MultiDiscrete, MultiBinary, Tuple and Dict (nested freely). Decoding
builds only these classes from numbers and strings, so a space read from a shared checkpoint
cannot run code. Non-finite Box bounds are written as the strings ``"inf"``, ``"-inf"``,
``"nan"`` (strict JSON has no infinities); bounds equal everywhere are written as one number.
Dict keys keep their order (it decides how ``spaces.flatten`` lays out an observation).

    data = space_to_json(env.observation_space("agent_0"))   # json.dumps-able
    space = space_from_json(data)                              # == the original space
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from diverse_marl.errors import CheckpointError, ConfigError

SUPPORTED = ("Box", "Discrete", "MultiDiscrete", "MultiBinary", "Tuple", "Dict")
# Box/MultiDiscrete dtypes a decoded space may have (names, never arbitrary objects)
DTYPES = (
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
)
_NON_FINITE = {"inf": np.inf, "-inf": -np.inf, "nan": np.nan}


def space_to_json(space: spaces.Space) -> dict[str, Any]:
    """A gymnasium space -> a JSON-serializable dict. Raises ConfigError for unsupported spaces."""
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": _encode_array(space.low),
            "high": _encode_array(space.high),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": space.nvec.tolist(),
            "start": space.start.tolist(),
            "dtype": str(space.dtype),
        }
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_json(s) for s in space.spaces]}
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": [[str(k), space_to_json(s)] for k, s in space.spaces.items()]}
    raise ConfigError(f"cannot describe observation space {space!r} in JSON; supported: {', '.join(SUPPORTED)}")


def space_from_json(data: Any) -> spaces.Space:
    """The inverse of :func:`space_to_json`. Raises CheckpointError on anything malformed."""
    try:
        return _decode(data)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CheckpointError(f"malformed space description {_preview(data)}: {exc}") from None


def _decode(data: Any) -> spaces.Space:
    if not isinstance(data, dict) or data.get("type") not in SUPPORTED:
        kind = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"unknown space type {kind!r} in checkpoint metadata; supported: {', '.join(SUPPORTED)}")
    kind = data["type"]
    if kind == "Box":
        shape = tuple(_nonneg_int(s) for s in data["shape"])
        dtype = _dtype(data["dtype"])
        return spaces.Box(
            low=_decode_array(data["low"], shape), high=_decode_array(data["high"], shape), shape=shape, dtype=dtype
        )
    if kind == "Discrete":
        return spaces.Discrete(_nonneg_int(data["n"]), start=int(data.get("start", 0)))
    if kind == "MultiDiscrete":
        nvec = np.asarray(data["nvec"], dtype=np.int64)
        start = np.asarray(data.get("start", np.zeros_like(nvec)), dtype=np.int64)
        return spaces.MultiDiscrete(nvec, dtype=_dtype(data.get("dtype", "int64")), start=start)
    if kind == "MultiBinary":
        n = data["n"]
        return spaces.MultiBinary(_nonneg_int(n) if not isinstance(n, list) else [_nonneg_int(x) for x in n])
    if kind == "Tuple":
        return spaces.Tuple([_decode(s) for s in data["spaces"]])
    return spaces.Dict([(_key(k), _decode(s)) for k, s in data["spaces"]])


def _encode_array(a: np.ndarray) -> Any:
    flat = np.asarray(a).reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        return _encode_number(flat[0])
    return [_encode_number(x) for x in flat]


def _encode_number(x: Any) -> Any:
    x = x.item() if isinstance(x, np.generic) else x
    if isinstance(x, float) and not np.isfinite(x):
        return "nan" if np.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def _decode_array(v: Any, shape: tuple[int, ...]) -> np.ndarray:
    vals = [_decode_number(x) for x in (v if isinstance(v, list) else [v])]
    arr = np.asarray(vals, dtype=np.float64)
    if arr.size == 1:
        return np.full(shape, arr[0])
    return arr.reshape(shape)


def _decode_number(x: Any) -> float:
    if isinstance(x, str):
        if x not in _NON_FINITE:
            raise ValueError(f"bound {x!r} is not a number")
        return _NON_FINITE[x]
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"bound {x!r} is not a number")
    return float(x)


def _dtype(name: Any) -> np.dtype:
    if name not in DTYPES:
        raise ValueError(f"dtype {name!r} not allowed; allowed: {', '.join(DTYPES)}")
    return np.dtype(name)


def _nonneg_int(x: Any) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        raise ValueError(f"expected a non-negative integer, got {x!r}")
    return x


def _key(k: Any) -> str:
    if not isinstance(k, str):
        raise ValueError(f"Dict key {k!r} is not a string")
    return k


def _preview(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 80 else text[:77] + "..."
