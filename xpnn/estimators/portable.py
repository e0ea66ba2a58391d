"""A fitted estimator's arrays as host NumPy copies in its pickled state, and back.

pickle and ``skops.io`` write what ``__getstate__`` gives: arrays of torch, JAX, CuPy or
array-api-strict would tie the file to that library's own serialisation (skops cannot write a
torch tensor at all, and would ask a loader to trust JAX's array type). So their values go
out as NumPy arrays, with the namespace and device they lived on, and ``__setstate__``
moves them back there (``backend.devices.backend_at``): the same values, the same
predictions, and the only types a skops file names are xpnn's own. An array shared by two
attributes (``coefs_`` and ``params_``) stays one array.
"""
from __future__ import annotations

import dataclasses

import array_api_compat
import numpy as np

from ..backend.devices import Backend, as_host_array, backend_at
from ..training.train_state import TrainState

# the fitted attributes that hold the model's arrays (params_ and coefs_ share theirs)
ARRAY_ATTRIBUTES = ("params_", "coefs_", "intercepts_", "state_")
PLACE = "_arrays_place"  # (namespace name, device str) of host copies in a pickled state


def to_host(state: dict, backend: Backend | None) -> dict:
    """``state`` (an estimator's ``__dict__``) with its arrays as host copies and their
    place recorded; itself for a model on NumPy (or not fitted)."""
    if backend is None or backend.name == "numpy":
        return state
    memo = {}

    def host(array):
        return np.array(as_host_array(array), copy=True)

    state = {**state, **{name: _mapped(state[name], host, memo)
                         for name in ARRAY_ATTRIBUTES if name in state}}
    state[PLACE] = (backend.name, str(backend.device))
    return state


def from_host(state: dict) -> tuple[dict, Backend | None]:
    """(``state`` with its host copies moved back where they lived, that backend), or
    (``state``, None) when it holds no host copies."""
    place = state.pop(PLACE, None)
    if place is None:
        return state, None
    backend = backend_at(*place)
    memo = {}
    state = {**state, **{name: _mapped(state[name], backend.asarray, memo)
                         for name in ARRAY_ATTRIBUTES if name in state}}
    return state, backend


def _mapped(value, move, memo: dict):
    """``value`` with every array in it moved by ``move``, containers rebuilt (the live
    estimator's are left alone); one move per array object (``memo``, by id)."""
    if isinstance(value, TrainState):
        return dataclasses.replace(
            value, params=_mapped(value.params, move, memo),
            opt_state=_mapped(value.opt_state, move, memo),
            best_params=_mapped(value.best_params, move, memo))
    if isinstance(value, dict):
        return {key: _mapped(item, move, memo) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_mapped(item, move, memo) for item in value)
    if array_api_compat.is_array_api_obj(value):
        if id(value) not in memo:
            memo[id(value)] = (value, move(value))  # the original kept: its id stays unique
        return memo[id(value)][1]
    return value
