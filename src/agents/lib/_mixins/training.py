"""Training the mixin model: samples from trials and recorded outcomes, a grouped split, metrics, the export.

A sample is one observed outcome of a pair on a node type. Outcomes of the same (pair, node type, label) are
aggregated into one row with a weight (10,000 outcomes of 420 triples train as fast as 420). Evaluation holds out
whole pairs: the split and the cross-validation are grouped by the unordered pair (scikit-learn's
``StratifiedGroupKFold``, which is ``GroupKFold`` keeping the class balance), so the model is scored on pairs it
never saw in any node type. The served model is then refit on every sample.

``python -m agents.lib._mixins.training --write [PATH]`` retrains on the shipped trials and writes the shipped
model (``data/model.json`` by default).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from agents.lib._mixins.features import ABSENT, NODE_TYPES, FeatureSpace, catalogue_digest
from agents.lib._mixins.model import Forest, ModelMetrics, PairEntry, TrainedModel, Tree, write_model
from agents.lib.codegen.runtime.mixin_info import MixinInfo
from agents.lib.errors import ErrorCode, OnexError

__all__ = [
    "FOREST_PARAMETERS",
    "SHIPPED_MODEL",
    "InsufficientSamplesError",
    "Sample",
    "export_forest",
    "pair_key",
    "samples_from_records",
    "samples_from_trials",
    "train",
]

SHIPPED_MODEL = Path(__file__).resolve().parent / "data" / "model.json"
"""The model that ships with the package, trained on the shipped trials."""
FOREST_PARAMETERS: dict[str, Any] = {
    "n_estimators": 100,
    "min_samples_leaf": 1,
    "class_weight": None,  # counts are weights: a triple is served near its observed success rate
    "max_features": 0.2,
    "bootstrap": False,
    "random_state": 0,
    "n_jobs": 1,
}
"""The random forest's settings (one job: the machine's cores belong to the generator)."""
_REASONS = 3


class InsufficientSamplesError(OnexError, ValueError):
    """Fewer samples than ``min_samples`` (or only one class): the message says how many there are."""


class OutcomeLike(Protocol):
    """A trial outcome (``_mixins.trials.TrialOutcome``)."""

    @property
    def mixin_a(self) -> str:
        """First mixin."""
        ...

    @property
    def mixin_b(self) -> str:
        """Second mixin."""
        ...

    @property
    def node_type(self) -> str:
        """Node type."""
        ...

    @property
    def success(self) -> bool:
        """Whether every check passed."""
        ...

    @property
    def conflict_reason(self) -> str | None:
        """The failing check, on failure."""
        ...


class CountsLike(Protocol):
    """A recorded pair (``db.stores.mixins.MixinCompatibility``)."""

    @property
    def mixin_a(self) -> str:
        """First mixin."""
        ...

    @property
    def mixin_b(self) -> str:
        """Second mixin."""
        ...

    @property
    def node_type(self) -> str:
        """Node type."""
        ...

    @property
    def success_count(self) -> int:
        """Successes."""
        ...

    @property
    def failure_count(self) -> int:
        """Failures."""
        ...

    @property
    def last_conflict_reason(self) -> str | None:
        """The last recorded conflict."""
        ...


def pair_key(mixin_a: str, mixin_b: str, node_type: str) -> tuple[str, str, str]:
    """Return the table key of a pair: the two names in code-point order, then the node type."""
    a, b = sorted((mixin_a, mixin_b))
    return a, b, node_type


@dataclass(frozen=True)
class Sample:
    """``count`` outcomes of one pair on one node type, all successes or all failures."""

    mixin_a: str
    mixin_b: str
    node_type: str
    success: bool
    count: int = 1
    conflict_reason: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """The pair's table key."""
        return pair_key(self.mixin_a, self.mixin_b, self.node_type)


def samples_from_trials(outcomes: Iterable[OutcomeLike]) -> list[Sample]:
    """One sample per trial outcome."""
    return [Sample(o.mixin_a, o.mixin_b, o.node_type, o.success, 1, o.conflict_reason) for o in outcomes]


def samples_from_records(records: Iterable[CountsLike]) -> list[Sample]:
    """Expand recorded counts into samples: ``success_count`` successes and ``failure_count`` failures."""
    out: list[Sample] = []
    for r in records:
        if r.success_count > 0:
            out.append(Sample(r.mixin_a, r.mixin_b, r.node_type, True, r.success_count))
        if r.failure_count > 0:
            out.append(Sample(r.mixin_a, r.mixin_b, r.node_type, False, r.failure_count, r.last_conflict_reason))
    return out


@dataclass(frozen=True)
class _Rows:
    keys: list[tuple[str, str, str]]
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.int64]
    weight: npt.NDArray[np.float64]
    groups: list[str]


def _rows(samples: Sequence[Sample], space: FeatureSpace) -> _Rows:
    counts: Counter[tuple[tuple[str, str, str], bool]] = Counter()
    for s in samples:
        counts[(s.key, s.success)] += s.count
    items = sorted(counts.items())
    keys = [key for (key, _), _ in items]
    return _Rows(
        keys=keys,
        x=space.matrix(keys),
        y=np.array([int(success) for (_, success), _ in items], dtype=np.int64),
        weight=np.array([float(n) for _, n in items], dtype=np.float64),
        groups=[f"{a}+{b}" for a, b, _ in keys],
    )


def _usable(samples: Iterable[Sample], infos: Mapping[str, MixinInfo]) -> list[Sample]:
    return [
        s
        for s in samples
        if s.count > 0 and s.mixin_a in infos and s.mixin_b in infos and s.mixin_a != s.mixin_b
        if s.node_type in NODE_TYPES
    ]


def export_forest(forest: Any) -> Forest:
    """Return a fitted scikit-learn ``RandomForestClassifier`` (labels 0/1) as a plain-array :class:`Forest`."""
    column = list(forest.classes_).index(1)
    trees: list[Tree] = []
    for estimator in forest.estimators_:
        t = estimator.tree_
        value = np.asarray(t.value[:, 0, :], dtype=np.float64)
        p = value[:, column] / value.sum(axis=1)
        trees.append(
            Tree(
                left=np.asarray(t.children_left, dtype=np.int64),
                right=np.asarray(t.children_right, dtype=np.int64),
                feature=np.where(t.children_left >= 0, t.feature, 0).astype(np.int64),
                threshold=np.asarray(t.threshold, dtype=np.float64),
                p=p,
            )
        )
    return Forest(tuple(trees))


def _fit(x: npt.NDArray[np.float64], y: npt.NDArray[np.int64], weight: npt.NDArray[np.float64]) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(**FOREST_PARAMETERS)
    forest.fit(x, y, sample_weight=weight)
    return forest


def _splitter(folds: int, rows: _Rows) -> Any:
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(set(rows.groups))
    least = int(min(np.sum(rows.y == 0), np.sum(rows.y == 1)))
    return StratifiedGroupKFold(n_splits=max(2, min(folds, n_groups, max(least, 2))), shuffle=True, random_state=0)


def _scores(
    y: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64], weight: npt.NDArray[np.float64]
) -> tuple[float, float, float, float, list[list[int]]]:
    # positive class = incompatible (label 0)
    tp = float(weight[(y == 0) & (predicted == 0)].sum())
    fp = float(weight[(y == 1) & (predicted == 0)].sum())
    fn = float(weight[(y == 0) & (predicted == 1)].sum())
    tn = float(weight[(y == 1) & (predicted == 1)].sum())
    total = tp + fp + fn + tn
    accuracy = (tp + tn) / total if total else 0.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return accuracy, precision, recall, f1, [[round(tn), round(fp)], [round(fn), round(tp)]]


def _predict(forest: Any, x: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    return (export_forest(forest).predict(x) >= 0.5).astype(np.int64)


def _evaluate(rows: _Rows, test_size: float, folds: int) -> ModelMetrics:
    outer = _splitter(round(1 / test_size), rows)
    train_idx, test_idx = next(outer.split(rows.x, rows.y, rows.groups))
    forest = _fit(rows.x[train_idx], rows.y[train_idx], rows.weight[train_idx])
    accuracy, precision, recall, f1, matrix = _scores(
        rows.y[test_idx], _predict(forest, rows.x[test_idx]), rows.weight[test_idx]
    )
    cross_val: list[float] = []
    for fold_train, fold_test in _splitter(folds, rows).split(rows.x, rows.y, rows.groups):
        fold = _fit(rows.x[fold_train], rows.y[fold_train], rows.weight[fold_train])
        cross_val.append(_scores(rows.y[fold_test], _predict(fold, rows.x[fold_test]), rows.weight[fold_test])[0])
    return ModelMetrics(
        accuracy=accuracy,
        precision=precision,
        recall=recall,
        f1_score=f1,
        cross_val_scores=cross_val,
        training_samples=int(rows.weight[train_idx].sum()),
        test_samples=int(rows.weight[test_idx].sum()),
        confusion_matrix=matrix,
        test_pairs=len({rows.groups[i] for i in test_idx}),
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _conflicts(samples: Iterable[Sample]) -> dict[tuple[str, str, str], str]:
    reasons: defaultdict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for s in samples:
        if not s.success and s.conflict_reason:
            reasons[s.key][s.conflict_reason] += s.count
    return {key: counter.most_common(1)[0][0] for key, counter in reasons.items()}


def _reasons(forest: Forest, space: FeatureSpace, row: Sequence[float], p: float) -> tuple[tuple[str, float], ...]:
    """Return the features that moved the prediction most towards the predicted class.

    A feature that counts by being absent (an outer/inner combination the pair does not have) is named with
    the :data:`~agents.lib._mixins.features.ABSENT` prefix.
    """
    contributions = forest.contributions(row, len(space.names))
    sign = 1.0 if p >= 0.5 else -1.0
    order = np.argsort(-sign * contributions, kind="stable")
    top = [int(i) for i in order[:_REASONS] if sign * contributions[i] > 0]
    return tuple(
        (space.names[i] if row[i] else f"{ABSENT}{space.names[i]}", round(float(contributions[i]), 4)) for i in top
    )


def build_table(
    forest: Forest, space: FeatureSpace, samples: Sequence[Sample]
) -> dict[tuple[str, str, str], PairEntry]:
    """Return the served table: every catalogue pair x node type, with the samples and reasons behind it."""
    names = sorted(space.infos)
    keys = [(a, b, n) for i, a in enumerate(names) for b in names[i + 1 :] for n in NODE_TYPES]
    x = space.matrix(keys)
    p = forest.predict(x)
    seen: Counter[tuple[str, str, str]] = Counter()
    for s in samples:
        seen[s.key] += s.count
    conflicts = _conflicts(samples)
    return {
        key: PairEntry(
            p_compatible=float(p[i]),
            samples=seen[key],
            reasons=_reasons(forest, space, x[i].tolist(), float(p[i])),
            conflict_reason=conflicts.get(key),
        )
        for i, key in enumerate(keys)
    }


def train(
    samples: Sequence[Sample],
    infos: Mapping[str, MixinInfo],
    *,
    min_samples: int = 50,
    test_size: float = 0.2,
    cross_val_folds: int = 5,
) -> TrainedModel:
    """Evaluate on held-out pairs, refit on every sample and return the model (CPU-bound: run it in a thread)."""
    if not 0.0 < test_size < 1.0:
        raise OnexError(f"test_size must be between 0 and 1, got {test_size}", ErrorCode.VALIDATION_ERROR)
    if cross_val_folds < 2:
        raise OnexError(f"cross_val_folds must be at least 2, got {cross_val_folds}", ErrorCode.VALIDATION_ERROR)
    usable = _usable(samples, infos)
    total = sum(s.count for s in usable)
    if total < min_samples:
        raise InsufficientSamplesError(
            f"need at least {min_samples} training samples, have {total} "
            f"({sum(s.count for s in samples) - total} more ignored: unknown mixin or node type)",
            ErrorCode.VALIDATION_ERROR,
            {"samples": total, "min_samples": min_samples},
        )
    space = FeatureSpace.of(infos)
    rows = _rows(usable, space)
    if len(set(rows.y.tolist())) < 2:
        raise InsufficientSamplesError(
            f"the {total} training samples are all {'successes' if rows.y[0] else 'failures'}: "
            "a model needs both outcomes",
            ErrorCode.VALIDATION_ERROR,
            {"samples": total},
        )
    metrics = _evaluate(rows, test_size, cross_val_folds)
    forest = export_forest(_fit(rows.x, rows.y, rows.weight))
    return TrainedModel(
        feature_names=space.names,
        forest=forest,
        table=build_table(forest, space, usable),
        metrics=metrics,
        catalogue_digest=catalogue_digest(infos),
        mixins=tuple(sorted(infos)),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Retrain on the shipped trials and write the model (the shipped one by default)."""
    from agents.lib._mixins.features import catalogue_infos
    from agents.lib._mixins.trials import load_shipped_trials

    parser = argparse.ArgumentParser(prog="python -m agents.lib._mixins.training", description=main.__doc__)
    parser.add_argument("--write", nargs="?", const=SHIPPED_MODEL, type=Path, metavar="PATH", required=True)
    args = parser.parse_args(argv)
    model = train(samples_from_trials(load_shipped_trials()), catalogue_infos())
    write_model(model, args.write)
    m = model.metrics
    print(
        f"wrote {args.write}: accuracy {m.accuracy:.3f}, F1 (incompatible) {m.f1_score:.3f} on {m.test_pairs} "
        f"held-out pairs; confusion [[TN, FP], [FN, TP]] = {m.confusion_matrix}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
