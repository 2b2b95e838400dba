"""Mixin learning (guide Stream 4): which mixins work together, learned from what happened when they were combined.

:class:`MixinLearner` predicts whether two mixins of the runtime catalogue work together on a node type, and
recommends mixins for the capabilities a node needs. Its model is a random forest over features of the two
mixins' ``INFO`` declarations and the node type (:mod:`agents.lib._mixins.features`; nothing computed from an
outcome), trained on the behavioural trials shipped with the package plus the outcomes recorded through
:class:`~agents.lib.persistence.CodegenPersistence`. It is evaluated on pairs held out from training, so its
metrics say how well it does on pairs it never saw.

A fresh install is trained: the model shipped in ``_mixins/data/model.json`` is used until the learner trains
and saves its own (to ``model_path``: ``MIXIN_MODEL_PATH``, else ``<data dir>/mixin_model.json``). The file is
JSON that cannot run code when loaded (:mod:`agents.lib._mixins.model`). Predictions are served from the model's
probability table (a dict lookup); feedback moves a pair's served probability at once (see
:meth:`MixinLearner.update_from_feedback`) and retrains after ``retrain_threshold`` new outcomes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from agents.lib._mixins.features import NODE_TYPES, catalogue_digest, catalogue_infos, describe_feature
from agents.lib._mixins.model import ModelFileError, ModelMetrics, PairEntry, TrainedModel, read_model, write_model
from agents.lib._mixins.training import (
    SHIPPED_MODEL,
    InsufficientSamplesError,
    Sample,
    samples_from_records,
    samples_from_trials,
    train,
)
from agents.lib._mixins.trials import load_shipped_trials
from agents.lib.config import get_settings
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import get_logger

__all__ = [
    "FEEDBACK_PRIOR_WEIGHT",
    "InsufficientSamplesError",
    "MixinLearner",
    "MixinPrediction",
    "ModelFileError",
    "ModelMetrics",
    "UnknownMixinError",
    "default_model_path",
    "normalize_capability",
]

FEEDBACK_PRIOR_WEIGHT = 5.0
"""How many outcomes the model's own probability counts as when feedback arrives between trainings."""

_log = get_logger(__name__, component="mixin-learning")


class UnknownMixinError(OnexError, ValueError):
    """A mixin or node type the catalogue does not know; the message names the known ones."""


@dataclass(frozen=True)
class MixinPrediction:
    """Whether two mixins work together on a node type, how sure the model is, and why.

    ``confidence`` is the model's probability of the predicted class (``compatible`` is ``P(compatible) >=
    0.5``); ``learned_from_samples`` counts the recorded outcomes of this pair on this node type behind it.
    """

    mixin_a: str
    mixin_b: str
    node_type: str
    compatible: bool
    confidence: float
    explanation: str
    learned_from_samples: int


def default_model_path() -> Path:
    """``MIXIN_MODEL_PATH`` if set, else ``mixin_model.json`` in the data directory (``AGENTS_DATA_DIR``)."""
    settings = get_settings()
    return settings.mixin_model_path or settings.data_dir / "mixin_model.json"


_SEPARATORS = re.compile(r"[\s\-_./]+")


def normalize_capability(text: str) -> str:
    """Fold case, separators and plurals: "Health-Check" -> "health_check", "retries" -> "retry"."""
    words = [w for w in _SEPARATORS.split(text.strip().lower()) if w]
    return "_".join(_singular(w) for w in words)


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


class MixinLearner:
    """Predicts mixin compatibility and recommends mixins; see the module docstring.

    ``model_path`` is where the model is saved after training and loaded from (if it exists) on construction;
    otherwise the shipped model is loaded. A model file trained on another catalogue is not used. With
    ``auto_train`` and no usable model, the constructor trains on the shipped trials. ``min_confidence_threshold``
    is the least confidence of compatibility a recommendation must have with every other mixin of the set.
    ``persistence`` (default: one on the configured database, created on first use and closed by :meth:`close`)
    is where outcomes are recorded and read for training.
    """

    def __init__(
        self,
        model_path: Path | str | None = None,
        auto_train: bool = False,
        min_confidence_threshold: float = 0.7,
        *,
        persistence: CodegenPersistence | None = None,
    ) -> None:
        if not 0.0 <= min_confidence_threshold <= 1.0:
            raise OnexError(
                f"min_confidence_threshold must be between 0 and 1, got {min_confidence_threshold}",
                ErrorCode.VALIDATION_ERROR,
            )
        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        self.auto_train = auto_train
        self.min_confidence_threshold = min_confidence_threshold
        self._persistence = persistence
        self._owned = persistence is None
        self._infos = catalogue_infos()
        self._digest = catalogue_digest(self._infos)
        self._capabilities = self._capability_index()
        self._feedback: dict[tuple[str, str, str], list[int]] = {}
        self._new_samples = 0
        self._lock: asyncio.Lock | None = None
        self.source: Path | None = None
        """The file the current model was loaded from or saved to (``None``: no model)."""
        self._model = self._load()
        if self._model is None and auto_train:
            self._model = train(_shipped_trials(), self._infos)
            write_model(self._model, self.model_path)
            self.source = self.model_path

    # -- the model --
    def _load(self) -> TrainedModel | None:
        for path in (self.model_path, SHIPPED_MODEL):
            if not path.is_file():
                continue
            model = read_model(path)  # ModelFileError on garbage: never silently replaced
            if model.catalogue_digest == self._digest:
                self.source = path
                return model
            _log.warning(
                "Mixin model trained on another catalogue; not used",
                metadata={"path": str(path), "retrain": "await MixinLearner().train_model()"},
            )
        return None

    def is_trained(self) -> bool:
        """Whether a model (trained on the current catalogue) is loaded."""
        return self._model is not None

    def _trained(self) -> TrainedModel:
        if self._model is None:
            raise OnexError(
                "the mixin model is not trained: await train_model() (or construct with auto_train=True)",
                ErrorCode.NOT_FOUND,
            )
        return self._model

    def get_metrics(self) -> ModelMetrics:
        """Return the current model's metrics, measured on pairs held out from its training."""
        return self._trained().metrics

    @property
    def persistence(self) -> CodegenPersistence:
        """Where outcomes are recorded (created on first use when none was given)."""
        if self._persistence is None:
            self._persistence = CodegenPersistence()
        return self._persistence

    async def train_model(
        self, min_samples: int = 50, test_size: float = 0.2, cross_val_folds: int = 5
    ) -> ModelMetrics:
        """Train on the shipped trials plus the recorded outcomes, save to ``model_path``, return the metrics.

        Raises :class:`InsufficientSamplesError` (a ``ValueError``) with fewer than ``min_samples`` outcomes.
        """
        async with self._training_lock():
            records = await self.persistence.list_mixin_compatibility()
            samples: list[Sample] = _shipped_trials() + samples_from_records(records)
            model = await asyncio.to_thread(
                train,
                samples,
                self._infos,
                min_samples=min_samples,
                test_size=test_size,
                cross_val_folds=cross_val_folds,
            )
            await asyncio.to_thread(write_model, model, self.model_path)
            self._model, self.source = model, self.model_path
            self._feedback.clear()
            self._new_samples = 0
        m = model.metrics
        _log.info(
            "Mixin model trained",
            metadata={
                "path": str(self.model_path),
                "accuracy": m.accuracy,
                "f1_incompatible": m.f1_score,
                "training_samples": m.training_samples,
                "test_samples": m.test_samples,
            },
        )
        return m

    def _training_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # -- predictions --
    def _check(self, mixins: Iterable[str], node_type: str) -> None:
        unknown = sorted({m for m in mixins if m not in self._infos})
        if unknown:
            raise UnknownMixinError(
                f"unknown mixin(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(self._infos))}",
                ErrorCode.VALIDATION_ERROR,
                {"unknown": unknown},
            )
        if node_type not in NODE_TYPES:
            raise UnknownMixinError(
                f"unknown node type {node_type!r}; known: {', '.join(NODE_TYPES)}",
                ErrorCode.VALIDATION_ERROR,
                {"node_type": node_type},
            )

    def _served(self, key: tuple[str, str, str], entry: PairEntry) -> tuple[float, int]:
        """P(compatible) and the samples behind it, with the feedback recorded since the last training."""
        counts = self._feedback.get(key)
        if counts is None:
            return entry.p_compatible, entry.samples
        ok, failed = counts
        p = (FEEDBACK_PRIOR_WEIGHT * entry.p_compatible + ok) / (FEEDBACK_PRIOR_WEIGHT + ok + failed)
        return p, entry.samples + ok + failed

    def _entry(self, mixin_a: str, mixin_b: str, node_type: str) -> tuple[tuple[str, str, str], PairEntry]:
        key = (mixin_a, mixin_b, node_type) if mixin_a < mixin_b else (mixin_b, mixin_a, node_type)
        entry = self._trained().table.get(key)
        if entry is None:
            self._check((mixin_a, mixin_b), node_type)
            raise UnknownMixinError(
                f"{mixin_a} cannot be paired with itself", ErrorCode.VALIDATION_ERROR, {"mixin": mixin_a}
            )
        return key, entry

    def predict_compatibility(self, mixin_a: str, mixin_b: str, node_type: str) -> MixinPrediction:
        """Whether ``mixin_a`` and ``mixin_b`` (in either order) work together on ``node_type``, and why."""
        key, entry = self._entry(mixin_a, mixin_b, node_type)
        p, samples = self._served(key, entry)
        compatible = p >= 0.5
        return MixinPrediction(
            mixin_a=mixin_a,
            mixin_b=mixin_b,
            node_type=node_type,
            compatible=compatible,
            confidence=p if compatible else 1.0 - p,
            explanation=self._explain(key, entry, p, samples),
            learned_from_samples=samples,
        )

    def _explain(self, key: tuple[str, str, str], entry: PairEntry, p: float, samples: int) -> str:
        a, b, node_type = key
        verdict = "compatible" if p >= 0.5 else "incompatible"
        parts = [f"Predicted {verdict} on {node_type} (P(compatible) = {p:.2f})"]
        if entry.reasons:
            drivers = ", ".join(f"{describe_feature(name)} ({value:+.2f})" for name, value in entry.reasons)
            parts.append(f"driven by: {drivers}")
        if entry.conflict_reason:
            parts.append(f"recorded conflict: {entry.conflict_reason}")
        counts = self._feedback.get(key)
        if counts:
            parts.append(f"{counts[0]} success(es) and {counts[1]} failure(s) reported since the last training")
        parts.append(f"learned from {samples} recorded outcome(s) of this pair on {node_type}")
        unsuited = [m for m in (a, b) if node_type not in self._infos[m].node_types]
        if unsuited:
            parts.append(f"note: {' and '.join(unsuited)} not meant for {node_type} nodes")
        return "; ".join(parts) + "."

    def check_set(self, node_type: str, mixins: Sequence[str]) -> list[MixinPrediction]:
        """Return the pairs of ``mixins`` predicted incompatible on ``node_type`` (empty: the set is fine)."""
        names = list(dict.fromkeys(mixins))
        self._check(names, node_type)
        return [
            prediction
            for i, a in enumerate(names)
            for b in names[i + 1 :]
            if not (prediction := self.predict_compatibility(a, b, node_type)).compatible
        ]

    # -- recommendations --
    def _capability_index(self) -> dict[str, list[tuple[int, str]]]:
        index: dict[str, list[tuple[int, str]]] = {}
        for name, info in self._infos.items():
            for rank, capability in enumerate(info.capabilities):
                index.setdefault(normalize_capability(capability), []).append((min(rank, 1), name))
        return {key: sorted(values) for key, values in index.items()}

    def _p_compatible(self, mixin_a: str, mixin_b: str, node_type: str) -> float:
        key, entry = self._entry(mixin_a, mixin_b, node_type)
        return self._served(key, entry)[0]

    def recommend_mixins(
        self,
        node_type: str,
        required_capabilities: Sequence[str],
        existing_mixins: Sequence[str] | None = None,
        max_recommendations: int = 5,
    ) -> list[tuple[str, float, str]]:
        """Mixins for ``required_capabilities`` on ``node_type``: ``(mixin, confidence, explanation)``, best first.

        A capability matches a mixin's capabilities and synonyms with case, separators and plurals folded
        ("Health-Check", "health check", "retries"). Only mixins suited to ``node_type`` are considered, never
        one already in ``existing_mixins``, and never one whose predicted probability of working with an
        existing or already recommended mixin is below ``min_confidence_threshold`` (so never one predicted
        incompatible). A recommendation's confidence is its lowest probability of compatibility with the other
        mixins of the resulting set (1.0 when it is alone); a capability an existing mixin covers is skipped.
        """
        existing = list(dict.fromkeys(existing_mixins or ()))
        self._check(existing, node_type)
        if max_recommendations < 0:
            raise OnexError("max_recommendations must not be negative", ErrorCode.VALIDATION_ERROR)
        chosen: dict[str, str] = {}  # mixin -> the capability it covers
        for requested in required_capabilities:
            capability = normalize_capability(requested)
            candidates = [
                name
                for _, name in self._capabilities.get(capability, [])
                if node_type in self._infos[name].node_types
            ]
            if not candidates:
                _log.info(
                    "No mixin provides the capability for this node type",
                    metadata={"capability": requested, "node_type": node_type},
                )
                continue
            if any(name in existing or name in chosen for name in candidates):
                continue
            best = self._best(candidates, [*existing, *chosen], node_type)
            if best is not None:
                chosen[best] = requested
        everyone = [*existing, *chosen]
        out = [
            (name, *self._recommendation(name, capability, everyone, node_type))
            for name, capability in chosen.items()
        ]
        out.sort(key=lambda item: -item[1])
        return out[:max_recommendations]

    def _best(self, candidates: Sequence[str], members: Sequence[str], node_type: str) -> str | None:
        """Return the candidate (canonical providers first) with the best worst compatibility with ``members``."""
        scored = []
        for order, name in enumerate(candidates):
            worst = min((self._p_compatible(name, m, node_type) for m in members), default=1.0)
            if worst >= max(self.min_confidence_threshold, 0.5):
                scored.append((-worst, order, name))
        return min(scored)[2] if scored else None

    def _recommendation(
        self, name: str, capability: str, everyone: Sequence[str], node_type: str
    ) -> tuple[float, str]:
        others = [m for m in everyone if m != name]
        probabilities = {m: self._p_compatible(name, m, node_type) for m in others}
        confidence = min(probabilities.values(), default=1.0)
        covers = f"provides '{capability}' on {node_type}"
        if not probabilities:
            return confidence, f"{name} {covers}; no other mixin in the set to conflict with."
        compat = ", ".join(f"{m} ({p:.0%})" for m, p in sorted(probabilities.items(), key=lambda kv: kv[1]))
        return confidence, f"{name} {covers}; predicted compatible with {compat}."

    # -- learning from outcomes --
    async def update_from_feedback(
        self, mixin_a: str, mixin_b: str, node_type: str, success: bool, retrain_threshold: int = 100
    ) -> MixinPrediction:
        """Record an observed outcome; the pair's served prediction moves at once; retrain after enough new ones.

        The outcome is stored through the persistence. Until the next training the pair is served
        ``(w * p_model + successes) / (w + successes + failures)`` over the outcomes reported since the last
        training, with ``w`` = :data:`FEEDBACK_PRIOR_WEIGHT` (the model's probability counts as ``w`` outcomes).
        After ``retrain_threshold`` new outcomes the model is retrained (on everything recorded) and saved.
        Returns the pair's prediction after the update.
        """
        self._check((mixin_a, mixin_b), node_type)
        key, _ = self._entry(mixin_a, mixin_b, node_type)
        await self.persistence.record_mixin_compatibility(mixin_a, mixin_b, node_type, success)
        counts = self._feedback.setdefault(key, [0, 0])
        counts[0 if success else 1] += 1
        self._new_samples += 1
        if self._new_samples >= retrain_threshold:
            await self.train_model()
        return self.predict_compatibility(mixin_a, mixin_b, node_type)

    # -- lifetime --
    async def close(self) -> None:
        """Close the persistence if this learner created it."""
        if self._owned and self._persistence is not None:
            await self._persistence.close()
            self._persistence = None

    async def __aenter__(self) -> Self:
        """Return ``self``."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close (see :meth:`close`)."""
        await self.close()


def _shipped_trials() -> list[Sample]:
    """Return the shipped trial outcomes as samples."""
    return samples_from_trials(load_shipped_trials())
