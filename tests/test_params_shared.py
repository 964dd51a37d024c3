"""What GRUParams and LSTMParams share (gru_props.core.params._GateParams): one behaviour, both classes.

Read-only arrays in immutable memory, copies and pickles rebuilt through the
constructor with a fresh prepared-weights cache, and the same messages for
the same mistakes.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from gru_props.core.params import GRUParams
from gru_props.lstm import LSTMParams

BOTH = pytest.mark.parametrize("cls", [GRUParams, LSTMParams])


@BOTH
@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
def test_copies_and_pickles_are_read_only_with_a_fresh_cache(cls, how):
    # A copy that kept the original's prepared weights, or writable arrays,
    # could be edited and then run on stale prepared weights.
    p = cls.random(3, 4, seed=0)
    p._cache["prepared"] = "stale"
    q = {"copy": copy.copy, "deepcopy": copy.deepcopy,
         "pickle": lambda v: pickle.loads(pickle.dumps(v))}[how](p)
    assert type(q) is cls and q is not p
    assert q._cache == {} and q._cache is not p._cache
    for name, arr in q.arrays().items():
        np.testing.assert_array_equal(arr, getattr(p, name), err_msg=name)
        assert not np.shares_memory(arr, getattr(p, name)), name
        with pytest.raises(ValueError):
            arr.setflags(write=True)


@BOTH
def test_arrays_cannot_be_made_writable_even_through_a_view(cls):
    p = cls.random(2, 3, seed=1, dtype=np.float32)
    for name, arr in p.arrays().items():
        assert arr.dtype == np.float32, name
        with pytest.raises(ValueError):
            arr.setflags(write=True)
        with pytest.raises(ValueError):
            arr.T.setflags(write=True)


@BOTH
@pytest.mark.parametrize("kwargs, exc, fragments", [
    (dict(scale=True), TypeError, ["scale", "number", "True"]),
    (dict(scale="1"), TypeError, ["scale", "number", "'1'"]),
    (dict(dtype="no such dtype"), TypeError, ["dtype", "floating", "'no such dtype'"]),
])
def test_random_names_the_bad_argument(cls, kwargs, exc, fragments):
    with pytest.raises(exc) as e:
        cls.random(2, 3, **kwargs)
    for fragment in fragments:
        assert fragment in str(e.value), (fragment, str(e.value))


@BOTH
def test_first_input_weight_rank_and_width_messages(cls):
    fields = cls.random(3, 4, seed=0).arrays()
    first = next(iter(fields))
    with pytest.raises(ValueError) as e:
        cls(**{**fields, first: np.zeros(4)})
    assert str(e.value) == f"{cls.__name__}.{first}: expected a 2-D array of shape (D, H); got shape (4,)."
    with pytest.raises(ValueError) as e:
        cls(**{**fields, first: np.zeros((3, 0))})
    assert str(e.value) == (
        f"{cls.__name__}.{first}: expected shape (D, H) with H >= 1 hidden units; got (3, 0)."
    )
    with pytest.raises(TypeError) as e:
        cls.random(3, 4).replace(nope=1)
    assert str(e.value).startswith(f"{cls.__name__}.replace: unknown field(s) ['nope']; fields are ")
