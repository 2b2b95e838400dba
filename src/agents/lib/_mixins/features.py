"""Features of a (mixin_a, mixin_b, node_type) triple: two mixins' ``INFO``, their wrap order, the node type.

Nothing here looks at an outcome: a feature is a fact the catalogue declares. Whether two mixins can get in each
other's way depends on which one wraps the other: a cache that answers before an audit sees the call loses audit
entries, an audit that records before the cache answers does not. Where a mixin wraps is declared: a mixin on the
``read``/``write`` hooks wraps a whole operation, so it sits outside every ``wrap_io`` mixin (which wraps each
outside call inside that operation), and within a layer ``WRAP_ORDER`` says who is outermost; only EFFECT and
ORCHESTRATOR nodes run their work through those wrappers. The features are:

- ``suits_node_type``: how many of the two mixins suit the node type (0, 1 or 2);
- ``both_wrap``: both wrap calls, in a node type that wraps them;
- ``same_layer``: both wrap the same thing (whole operations, or each outside call), so the outer one sees
  every call the inner one sees;
- ``outer_inner:t>u``: the outer mixin declares trait ``t`` and the inner one trait ``u`` (all zero unless
  ``both_wrap``).

Outer and inner follow the wrap position, not the order the pair was asked in, so ``features(a, b, n) ==
features(b, a, n)`` by construction. The trait vocabulary is the catalogue's, sorted, so the layout is a function
of the catalogue; a model records its feature names and the catalogue's digest (which covers the wrap order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import orjson

from agents.lib.codegen.runtime.mixin_info import NODE_TYPES, MixinInfo
from agents.lib.codegen.runtime.mixins import MIXIN_CATALOGUE, WRAP_ORDER

__all__ = [
    "ABSENT",
    "NODE_TYPES",
    "WRAPPING_NODE_TYPES",
    "FeatureSpace",
    "catalogue_digest",
    "catalogue_infos",
    "describe_feature",
    "wrap_position",
]


def catalogue_infos() -> dict[str, MixinInfo]:
    """Return the runtime catalogue as ``{mixin name: INFO}`` (the one declaration, next to the runtime mixins)."""
    return {name: cls.INFO for name, cls in sorted(MIXIN_CATALOGUE.items())}


def catalogue_digest(infos: Mapping[str, MixinInfo]) -> str:
    """SHA-256 of the catalogue's declarations: a model trained on another catalogue has another digest."""
    declared = {name: infos[name].as_dict() for name in sorted(infos)}
    canonical = orjson.dumps({"infos": declared, "wrap_order": list(WRAP_ORDER)}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


ABSENT = "!"
"""Prefix of a feature name in an explanation when the feature counts by being absent (its value is 0)."""
_OPERATION_HOOKS = frozenset({"read", "write"})
WRAPPING_NODE_TYPES: tuple[str, ...] = ("EFFECT", "ORCHESTRATOR")
"""The node types whose generated code runs operations and outside calls through the mixins' wrappers."""


def wrap_position(name: str, info: MixinInfo) -> tuple[int, int]:
    """Where a mixin wraps a node's calls, outermost first: (layer, place in ``WRAP_ORDER``).

    Layer 0 wraps whole operations (``read``/``write`` hooks), layer 1 each outside call (``wrap_io``), layer 2
    neither (it is called by the node, or runs at start, stop or health).
    """
    hooks = set(info.hooks)
    layer = 0 if hooks & _OPERATION_HOOKS else 1 if "wrap_io" in hooks else 2
    place = WRAP_ORDER.index(name) if name in WRAP_ORDER else len(WRAP_ORDER)
    return layer, place


def _vocabulary(infos: Mapping[str, MixinInfo], field: str) -> tuple[str, ...]:
    values: set[str] = set()
    for info in infos.values():
        value = getattr(info, field)
        values.update((value,) if isinstance(value, str) else value)
    return tuple(sorted(values))


@dataclass(frozen=True)
class FeatureSpace:
    """The feature layout of one catalogue; :meth:`vector` gives the features of a triple."""

    infos: Mapping[str, MixinInfo]
    names: tuple[str, ...]
    traits: tuple[str, ...]

    @classmethod
    def of(cls, infos: Mapping[str, MixinInfo]) -> FeatureSpace:
        """Return the layout for ``infos`` (vocabularies sorted, so the same catalogue gives the same layout)."""
        traits = _vocabulary(infos, "traits")
        names: list[str] = ["suits_node_type", "both_wrap", "same_layer"]
        names += [f"outer_inner:{t}>{u}" for t in traits for u in traits]
        return cls(dict(infos), tuple(names), traits)

    def vector(self, mixin_a: str, mixin_b: str, node_type: str) -> list[float]:
        """Return the features of the triple (symmetric in ``mixin_a`` and ``mixin_b``), named by :attr:`names`."""
        a, b = self.infos[mixin_a], self.infos[mixin_b]
        pa, pb = wrap_position(mixin_a, a), wrap_position(mixin_b, b)
        wraps = node_type in WRAPPING_NODE_TYPES and pa[0] < 2 and pb[0] < 2
        out: list[float] = [
            float((node_type in a.node_types) + (node_type in b.node_types)),
            float(wraps),
            float(wraps and pa[0] == pb[0]),
        ]
        if not wraps:  # only a mixin that wraps calls, in a node that wraps them, is outside or inside another
            return out + [0.0] * (len(self.traits) * len(self.traits))
        outer, inner = (set(a.traits), set(b.traits)) if pa <= pb else (set(b.traits), set(a.traits))
        return out + [float(t in outer and u in inner) for t in self.traits for u in self.traits]

    def matrix(self, triples: Sequence[tuple[str, str, str]]) -> npt.NDArray[np.float64]:
        """Return the features of many triples, one row each."""
        return np.array([self.vector(a, b, n) for a, b, n in triples], dtype=np.float64).reshape(
            len(triples), len(self.names)
        )


def describe_feature(name: str) -> str:
    """Return a reader's wording of a feature name (for explanations; see :data:`ABSENT`)."""
    absent = name.startswith(ABSENT)
    kind, _, rest = name.removeprefix(ABSENT).partition(":")
    if kind == "outer_inner":
        t, _, u = rest.partition(">")
        return f"{'no' if absent else 'an'} outer '{t}' mixin around an inner '{u}' one"
    wording = _WORDING.get(kind, (kind.replace("_", " "), f"not {kind.replace('_', ' ')}"))
    return wording[absent]


_WORDING = {
    "suits_node_type": ("meant for the node type", "not meant for the node type"),
    "both_wrap": ("both wrap the node's calls", "they do not both wrap the node's calls"),
    "same_layer": ("both wrap at the same layer", "they do not wrap at the same layer"),
}
