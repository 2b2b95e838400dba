"""The catalogue: every mixin declares one valid ``INFO`` that matches what its class does."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agents.lib._mixins.trials import trial_spec
from agents.lib.codegen.runtime.mixin_info import CATEGORIES, HOOKS, NODE_TYPES, TRAITS, MixinInfo
from agents.lib.codegen.runtime.mixins import MIXIN_CATALOGUE, WRAP_ORDER, UnknownMixinError, mixin_info

REQUIRED = {
    "caching": "MixinCaching",
    "logging": "MixinLogging",
    "metrics": "MixinMetrics",
    "health_check": "MixinHealthCheck",
    "events": "MixinEventBus",
    "retry": "MixinRetry",
    "circuit_breaker": "MixinCircuitBreaker",
    "timeout": "MixinTimeout",
    "rate_limiting": "MixinRateLimiter",
    "validation": "MixinValidation",
    "authorization": "MixinSecurity",
    "audit": "MixinAudit",
    "transaction": "MixinTransaction",
    "connection": "MixinConnection",
    "repository": "MixinRepository",
}


def test_the_fifteen_mixins_exist_with_their_canonical_capability() -> None:
    assert {mixin_info(m).capability: m for m in MIXIN_CATALOGUE} == REQUIRED
    assert list(MIXIN_CATALOGUE) == list(WRAP_ORDER)


@pytest.mark.parametrize("name", sorted(MIXIN_CATALOGUE))
def test_info_uses_the_vocabularies(name: str) -> None:
    info = MIXIN_CATALOGUE[name].INFO
    assert isinstance(info, MixinInfo)
    assert "INFO" in vars(MIXIN_CATALOGUE[name])  # declared on the class itself, not inherited
    assert info.category in CATEGORIES
    assert set(info.hooks) <= set(HOOKS) and info.hooks
    assert set(info.traits) <= set(TRAITS)
    assert set(info.node_types) <= set(NODE_TYPES) and info.node_types
    assert len(set(info.capabilities)) == len(info.capabilities)
    assert info.as_dict()["capabilities"] == list(info.capabilities)


@pytest.mark.parametrize("name", sorted(MIXIN_CATALOGUE))
def test_hooks_match_what_the_class_overrides(name: str) -> None:
    cls, info = MIXIN_CATALOGUE[name], mixin_info(name)
    own = vars(cls)
    assert ("wrap_io" in info.hooks) == ("_wrap_io" in own)
    assert bool({"read", "write"} & set(info.hooks)) == ("_wrap_operation" in own or name == "MixinRepository")
    assert ("startup" in info.hooks) == ("start" in own)
    assert ("shutdown" in info.hooks) == ("stop" in own)
    assert ("health" in info.hooks) == ("health_check" in own)


@pytest.mark.parametrize("name", sorted(MIXIN_CATALOGUE))
@pytest.mark.parametrize("node_type", NODE_TYPES)
def test_node_types_are_where_the_generator_allows_the_mixin(name: str, node_type: str) -> None:
    if node_type in mixin_info(name).node_types:
        assert name in trial_spec(node_type, "t", (name,)).mixins
    else:
        with pytest.raises(ValidationError, match=f"{name} does not apply to {node_type}"):
            trial_spec(node_type, "t", (name,))


def test_an_unknown_mixin_is_a_clear_error() -> None:
    with pytest.raises(UnknownMixinError, match="unknown mixin 'MixinMagic'; known: MixinAudit, MixinCaching"):
        mixin_info("MixinMagic")
    with pytest.raises(KeyError):
        mixin_info("MixinMagic")


def test_info_refuses_words_outside_the_vocabularies() -> None:
    good = mixin_info("MixinRetry")
    fields = {k: getattr(good, k) for k in good.__dataclass_fields__}
    with pytest.raises(ValueError, match="unknown category 'speed'"):
        MixinInfo(**(fields | {"category": "speed"}))
    with pytest.raises(ValueError, match=r"unknown traits \['teleports'\]"):
        MixinInfo(**(fields | {"traits": ("teleports",)}))
    with pytest.raises(ValueError, match=r"unknown hooks \['boot'\]"):
        MixinInfo(**(fields | {"hooks": ("boot",)}))
