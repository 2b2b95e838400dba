"""The stemmer, the evidence reading and detection: confidences and evidence on real analyses."""

from __future__ import annotations

import pytest

from agents.lib._patterns.detect import MAX_CONFIDENCE, detect_in_contract, detect_patterns
from agents.lib._patterns.library import PATTERN_NAMES, PATTERNS, get_pattern
from agents.lib._patterns.text import stem, stemmed_text
from agents.lib.pattern_feedback import detect_pattern
from agents.lib.prd_analyzer import analyze_prd
from tests.patterns.corpus import EXAMPLES


@pytest.mark.parametrize(
    ("words", "stem_"),
    [
        (("cache", "caches", "cached", "caching"), "cach"),
        (("validate", "validation", "validated", "validator", "validates"), "validat"),
        (("authorize", "authorization", "authorized", "authorizing"), "authoriz"),
        (("aggregate", "aggregation", "aggregated", "aggregator"), "aggregat"),
        (("publish", "publishes", "published", "publishing", "publisher"), "publish"),
        (("count", "counts", "counting", "counter"), "count"),
        (("log", "logged", "logging"), "log"),
        (("category", "categories"), "category"),
    ],
)
def test_inflections_share_a_stem(words: tuple[str, ...], stem_: str) -> None:
    assert {stem(w) for w in words} == {stem_}


def test_stemmer_keeps_short_words_and_author_apart_from_auth() -> None:
    assert stem("author") == "author" != stem("auth")
    assert stem("authors") == "author"
    assert (stem("user"), stem("order"), stem("bus"), stem("api")) == ("user", "order", "bus", "api")
    assert stem("oauth2") == "oauth2"


def test_negated_words_are_not_evidence_but_the_rest_of_the_sentence_is() -> None:
    text = stemmed_text(["No caching is needed; results are published to Kafka.", "Users cannot log in twice."])
    assert "cach" not in text.stems
    assert "publish" in text.stems
    assert "cannot" in text.stems  # a negation states a rule
    assert not text.has_phrase(("log", "in"))
    assert text.has_phrase(("publish", "to", "kafka"))


def _detections(name: str) -> dict[str, float]:
    return {d.name: d.confidence for d in detect_patterns(analyze_prd(EXAMPLES / name))}


def test_feature_flags_are_crud_with_caching_and_event_publishing() -> None:
    found = detect_patterns(analyze_prd(EXAMPLES / "feature_flags.md"))
    by_name = {d.name: d for d in found}
    assert [d.name for d in found if d.applied] == ["crud", "caching", "event_publishing"]
    caching = by_name["caching"]
    assert caching.evidence == ("keyword 'cache'", "keyword 'redis'", "system Redis (cache)")
    assert caching.confidence == round(1 - (1 - 0.55) * (1 - 0.3) * (1 - 0.5), 3) == 0.843
    assert caching.threshold == get_pattern("caching").default_threshold  # type: ignore[union-attr]
    assert caching.code == "EFFECT node, MixinCaching on EFFECT"
    assert [d.confidence for d in found] == sorted((d.confidence for d in found), reverse=True)


def test_evidence_against_a_pattern_lowers_its_confidence() -> None:
    metrics = detect_patterns(analyze_prd(EXAMPLES / "metrics_aggregator.md"))
    events = next(d for d in metrics if d.name == "event_publishing")
    assert "against: keyword 'consume'" in events.evidence
    assert not events.applied
    assert next(d for d in metrics if d.name == "aggregation").confidence == MAX_CONFIDENCE


def test_thresholds_decide_what_is_applied() -> None:
    analysis = analyze_prd(EXAMPLES / "feature_flags.md")
    held = {d.name: d for d in detect_patterns(analysis, {"caching": 0.9, "aggregation": 0.2})}
    assert (held["caching"].threshold, held["caching"].applied) == (0.9, False)
    assert (held["aggregation"].threshold, held["aggregation"].applied) == (0.2, True)
    assert held["crud"].threshold == 0.55


def test_every_confidence_is_in_range_and_every_pattern_maps_to_code() -> None:
    assert len(PATTERN_NAMES) == len(set(PATTERN_NAMES)) == 9
    for pattern in PATTERNS:
        assert 0 < pattern.default_threshold < 1
        assert pattern.code.describe()
    for file in sorted(EXAMPLES.glob("*.md")):
        for d in detect_patterns(analyze_prd(file)):
            assert 0.0 < d.confidence <= MAX_CONFIDENCE


def test_contract_detection_reads_capabilities_and_node_type() -> None:
    found = detect_in_contract({"node_type": "EFFECT", "capabilities": ["caching", "redis_ttl"]})
    assert (found[0].name, found[0].confidence) == ("caching", round(1 - 0.45 * 0.7 * 0.65, 3))
    assert detect_pattern({"node_type": "compute", "capabilities": ["auth", "security"]}) == (
        "authentication",
        0.4,
    )
    assert detect_pattern({"node_type": "REDUCER", "capabilities": []}) == ("aggregation", round(0.35, 3))
    assert detect_pattern({"capabilities": []}) == ("crud", 0.0)
