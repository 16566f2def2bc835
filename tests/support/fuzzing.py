"""Hypothesis strategies shared by the API fuzz tests: arbitrary JSON, and valid bodies mutated at
random places (a few values anywhere in the tree replaced by arbitrary JSON)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import strategies as st

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value, as the keys/indexes leading to it (the root is `()`)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from json_paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from json_paths(v, (*prefix, i))


def mutations_of(base: Callable[[st.DrawFn], Any]) -> st.SearchStrategy[Any]:
    """Bodies drawn by `base` with one to three places replaced by arbitrary JSON."""

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        body: Any = copy.deepcopy(base(draw))
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(list(json_paths(body))))
            replacement = draw(json_values)
            if not path:
                body = replacement
                continue
            target = body
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = replacement
        return body

    return build()
