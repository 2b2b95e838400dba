"""Features of a (mixin_a, mixin_b, node_type) triple, from the two mixins' ``INFO`` and the node type only.

Nothing here looks at an outcome: a feature is a fact the catalogue declares (category, hooks, traits, state,
resources, dependencies, the node types a mixin suits) or the node type. Every feature is symmetric in a and b:
single-mixin facts are counted over the two (0, 1 or 2), and the cross features ("one mixin has trait t, the other
has trait u" and "one has trait t, the other takes part in hook h") are unordered. So ``features(a, b, n) ==
features(b, a, n)`` by construction, and the model cannot tell the order in which a pair was asked.

The vocabularies (categories, hooks, traits, dependencies) are the ones the catalogue uses, sorted, so the
feature layout is a function of the catalogue; a model records its feature names and the catalogue's digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import orjson

from agents.lib.codegen.runtime.mixin_info import NODE_TYPES, MixinInfo
from agents.lib.codegen.runtime.mixins import MIXIN_CATALOGUE

__all__ = [
    "NODE_TYPES",
    "FeatureSpace",
    "catalogue_digest",
    "catalogue_infos",
    "describe_feature",
]


def catalogue_infos() -> dict[str, MixinInfo]:
    """The runtime catalogue as ``{mixin name: INFO}`` (the one declaration, next to the runtime mixins)."""
    return {name: cls.INFO for name, cls in sorted(MIXIN_CATALOGUE.items())}


def catalogue_digest(infos: Mapping[str, MixinInfo]) -> str:
    """SHA-256 of the catalogue's declarations: a model trained on another catalogue has another digest."""
    canonical = orjson.dumps({name: infos[name].as_dict() for name in sorted(infos)}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


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
    categories: tuple[str, ...]
    hooks: tuple[str, ...]
    traits: tuple[str, ...]
    dependencies: tuple[str, ...]

    @classmethod
    def of(cls, infos: Mapping[str, MixinInfo]) -> FeatureSpace:
        """The layout for ``infos`` (vocabularies sorted, so the same catalogue gives the same layout)."""
        categories = _vocabulary(infos, "category")
        hooks = _vocabulary(infos, "hooks")
        traits = _vocabulary(infos, "traits")
        dependencies = _vocabulary(infos, "external_dependencies")
        names: list[str] = [f"node_type:{n}" for n in NODE_TYPES]
        names += ["suits_node_type", "same_category", "shared_hooks", "shared_dependencies", "shared_capabilities"]
        names += ["modifies_state", "resource_intensive", "both_modify_state"]
        names += [f"category:{c}" for c in categories]
        names += [f"hook:{h}" for h in hooks]
        names += [f"trait:{t}" for t in traits]
        names += [f"depends_on:{d}" for d in dependencies]
        names += [f"traits:{t}+{u}" for i, t in enumerate(traits) for u in traits[i:]]
        names += [f"trait_hook:{t}>{h}" for t in traits for h in hooks]
        names += [f"state_hook:{h}" for h in hooks]
        return cls(dict(infos), tuple(names), categories, hooks, traits, dependencies)

    def vector(self, mixin_a: str, mixin_b: str, node_type: str) -> list[float]:
        """The features of the triple (symmetric in ``mixin_a`` and ``mixin_b``); names are :attr:`names`."""
        a, b = self.infos[mixin_a], self.infos[mixin_b]
        out: list[float] = [1.0 if node_type == n else 0.0 for n in NODE_TYPES]
        caps_a = {c.lower() for c in a.capabilities}
        caps_b = {c.lower() for c in b.capabilities}
        out += [
            float((node_type in a.node_types) + (node_type in b.node_types)),
            float(a.category == b.category),
            float(len(set(a.hooks) & set(b.hooks))),
            float(len(set(a.external_dependencies) & set(b.external_dependencies))),
            float(len(caps_a & caps_b)),
            float(a.modifies_state + b.modifies_state),
            float(a.resource_intensive + b.resource_intensive),
            float(a.modifies_state and b.modifies_state),
        ]
        out += [float((a.category == c) + (b.category == c)) for c in self.categories]
        out += [float((h in a.hooks) + (h in b.hooks)) for h in self.hooks]
        out += [float((t in a.traits) + (t in b.traits)) for t in self.traits]
        out += [float((d in a.external_dependencies) + (d in b.external_dependencies)) for d in self.dependencies]
        ta, tb = set(a.traits), set(b.traits)
        out += [
            float((t in ta and u in tb) or (u in ta and t in tb))
            for i, t in enumerate(self.traits)
            for u in self.traits[i:]
        ]
        ha, hb = set(a.hooks), set(b.hooks)
        out += [float((t in ta and h in hb) or (t in tb and h in ha)) for t in self.traits for h in self.hooks]
        # a mixin that keeps state, next to another that takes part in hook h
        out += [float((a.modifies_state and h in hb) or (b.modifies_state and h in ha)) for h in self.hooks]
        return out

    def matrix(self, triples: Sequence[tuple[str, str, str]]) -> npt.NDArray[np.float64]:
        """The features of many triples, one row each."""
        return np.array([self.vector(a, b, n) for a, b, n in triples], dtype=np.float64).reshape(
            len(triples), len(self.names)
        )


def describe_feature(name: str) -> str:
    """A reader's wording of a feature name (for explanations)."""
    kind, _, rest = name.partition(":")
    if kind == "traits":
        t, _, u = rest.partition("+")
        return f"one mixin '{t}', the other '{u}'" if t != u else f"both '{t}'"
    if kind == "trait_hook":
        t, _, h = rest.partition(">")
        return f"one mixin '{t}', the other in the '{h}' hook"
    if kind == "state_hook":
        return f"one mixin keeps state, the other is in the '{rest}' hook"
    if kind == "node_type":
        return f"node type {rest}"
    if kind in {"category", "hook", "trait", "depends_on"}:
        return f"{kind.replace('_', ' ')} '{rest}'"
    return name.replace("_", " ")
