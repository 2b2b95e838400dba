"""The trained mixin model and its file: a random forest as plain arrays, a probability table, the metrics.

A model file is JSON (``format: "agents.mixin_model"``), whatever its name ends with: the trees of the forest as
arrays (children, split feature, threshold, probability of "compatible" per node), the served table (the model's
probability for every catalogue pair x node type, the samples it learned from, the reasons that drove it, the
pair's recorded conflict reason), the metrics measured on held-out pairs and the catalogue's digest. Loading
parses JSON and checks every field; nothing in the file can run code (no pickle, joblib or skops: a model path is
user-writable, and unpickling a replaced file runs whatever it says). Trees are evaluated with numpy.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from agents.lib._mixins.features import ABSENT
from agents.lib.codegen.writing import atomic_write
from agents.lib.errors import ErrorCode, OnexError

__all__ = [
    "FORMAT",
    "MAX_FILE_BYTES",
    "VERSION",
    "Forest",
    "ModelFileError",
    "ModelMetrics",
    "PairEntry",
    "TrainedModel",
    "Tree",
    "read_model",
    "write_model",
]

FORMAT = "agents.mixin_model"
"""The ``format`` field of a model file."""
VERSION = 1
"""The version of the file layout this module reads and writes."""
MAX_FILE_BYTES = 64 * 1024 * 1024
"""A model file larger than this is refused before it is read."""

PairKey = tuple[str, str, str]


class ModelFileError(OnexError, ValueError):
    """A model file that is not a valid mixin model (garbage, a pickle, another format or version)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(
            f"{path} is not a mixin model file: {reason}", ErrorCode.VALIDATION_ERROR, {"path": str(path)}
        )


@dataclass(frozen=True)
class ModelMetrics:
    """How well a model predicts pairs it never saw (a grouped split: no pair is in both train and test).

    ``precision``, ``recall`` and ``f1_score`` are those of the *incompatible* class (the one a recommender must
    not miss); ``accuracy`` is over both. ``confusion_matrix`` is ``[[TN, FP], [FN, TP]]`` with "positive" =
    incompatible: rows are the actual class (compatible, incompatible), columns the predicted one.
    ``cross_val_scores`` are the accuracies of grouped k-fold cross-validation over all samples.
    """

    accuracy: float
    precision: float
    recall: float
    f1_score: float
    cross_val_scores: list[float]
    training_samples: int
    test_samples: int
    confusion_matrix: list[list[int]] = field(default_factory=lambda: [[0, 0], [0, 0]])
    test_pairs: int = 0
    trained_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the metrics as a JSON-friendly dict."""
        return {
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1_score": self.f1_score,
            "cross_val_scores": list(self.cross_val_scores),
            "training_samples": self.training_samples,
            "test_samples": self.test_samples,
            "confusion_matrix": [list(row) for row in self.confusion_matrix],
            "test_pairs": self.test_pairs,
            "trained_at": self.trained_at,
        }


@dataclass(frozen=True)
class Tree:
    """One decision tree: node ``i`` goes left when ``feature[i] <= threshold[i]``; a leaf has ``left[i] < 0``.

    ``p[i]`` is the probability of "compatible" among the training samples that reach node ``i``.
    """

    left: npt.NDArray[np.int64]
    right: npt.NDArray[np.int64]
    feature: npt.NDArray[np.int64]
    threshold: npt.NDArray[np.float64]
    p: npt.NDArray[np.float64]

    def leaves(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Return the leaf each row of ``x`` ends in (all rows descend one level per step)."""
        node = np.zeros(len(x), dtype=np.int64)
        rows = np.arange(len(x))
        for _ in range(len(self.left)):
            left = self.left[node]
            inner = left >= 0
            if not inner.any():
                break
            go_left = x[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(inner, np.where(go_left, left, self.right[node]), node)
        return node

    def path(self, x: Sequence[float]) -> list[int]:
        """Return the nodes a single row visits, root first."""
        node, visited = 0, [0]
        while self.left[node] >= 0:
            node = int(self.left[node] if x[self.feature[node]] <= self.threshold[node] else self.right[node])
            visited.append(node)
        return visited


@dataclass(frozen=True)
class Forest:
    """A random forest: the probability of "compatible" is the mean of its trees' leaf probabilities."""

    trees: tuple[Tree, ...]

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """P(compatible) of each row of ``x``."""
        total = np.zeros(len(x), dtype=np.float64)
        for tree in self.trees:
            total += tree.p[tree.leaves(x)]
        result: npt.NDArray[np.float64] = total / len(self.trees)
        return result

    def contributions(self, x: Sequence[float], n_features: int) -> npt.NDArray[np.float64]:
        """How much each feature moved P(compatible) for row ``x``, along each tree's path (mean over trees).

        The prediction is the mean root probability plus the sum of these contributions.
        """
        out = np.zeros(n_features, dtype=np.float64)
        for tree in self.trees:
            visited = tree.path(x)
            for parent, child in itertools.pairwise(visited):
                out[tree.feature[parent]] += tree.p[child] - tree.p[parent]
        result: npt.NDArray[np.float64] = out / len(self.trees)
        return result


@dataclass(frozen=True)
class PairEntry:
    """What the model serves for one pair on one node type."""

    p_compatible: float
    samples: int
    reasons: tuple[tuple[str, float], ...]
    conflict_reason: str | None = None


@dataclass(frozen=True)
class TrainedModel:
    """A forest over :attr:`feature_names`, its served table, its metrics and the catalogue it was trained on."""

    feature_names: tuple[str, ...]
    forest: Forest
    table: Mapping[PairKey, PairEntry]
    metrics: ModelMetrics
    catalogue_digest: str
    mixins: tuple[str, ...]

    def to_json(self) -> bytes:
        """Return the model file's bytes."""
        return orjson.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "catalogue_digest": self.catalogue_digest,
                "mixins": list(self.mixins),
                "feature_names": list(self.feature_names),
                "metrics": self.metrics.to_dict(),
                "trees": [
                    {
                        "left": t.left.tolist(),
                        "right": t.right.tolist(),
                        "feature": t.feature.tolist(),
                        "threshold": t.threshold.tolist(),
                        "p": t.p.tolist(),
                    }
                    for t in self.forest.trees
                ],
                "table": [
                    {
                        "mixin_a": a,
                        "mixin_b": b,
                        "node_type": n,
                        "p_compatible": e.p_compatible,
                        "samples": e.samples,
                        "reasons": [[name, value] for name, value in e.reasons],
                        "conflict_reason": e.conflict_reason,
                    }
                    for (a, b, n), e in sorted(self.table.items())
                ],
            },
            option=orjson.OPT_INDENT_2,
        )


def write_model(model: TrainedModel, path: Path) -> None:
    """Write ``model`` to ``path`` atomically (a temporary file beside it, then a rename)."""
    atomic_write(path, model.to_json())


def read_model(path: Path, data: bytes | None = None) -> TrainedModel:
    """Read and check a model file (``data``: its bytes, when already read); raise :class:`ModelFileError`."""
    if data is None:
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ModelFileError(path, f"larger than {MAX_FILE_BYTES} bytes")
            data = path.read_bytes()
        except OSError as exc:
            raise ModelFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if data[:1] == b"\x80":
        raise ModelFileError(path, "it is a pickle; pickles are never loaded (they can run code)")
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ModelFileError(path, "not JSON") from exc
    try:
        return _parse(raw)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelFileError(path, f"invalid content ({exc})") from exc


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise ValueError(what)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    _expect(isinstance(value, list) and all(isinstance(v, str) for v in value), f"{what} must be strings")
    return tuple(value)


def _probability(value: Any, what: str) -> float:
    _expect(
        isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0,
        f"{what} must be a probability",
    )
    return float(value)


def _int_array(value: Any, what: str) -> npt.NDArray[np.int64]:
    _expect(isinstance(value, list) and all(type(v) is int for v in value), f"{what} must be integers")
    return np.array(value, dtype=np.int64)


def _tree(raw: Any, n_features: int) -> Tree:
    _expect(isinstance(raw, dict), "a tree must be an object")
    left, right = _int_array(raw["left"], "left"), _int_array(raw["right"], "right")
    feature = _int_array(raw["feature"], "feature")
    threshold_raw, p_raw = raw["threshold"], raw["p"]
    _expect(isinstance(threshold_raw, list) and isinstance(p_raw, list), "threshold and p must be lists")
    _expect(
        all(isinstance(v, int | float) and not isinstance(v, bool) for v in threshold_raw),
        "thresholds must be numbers",
    )
    threshold = np.array(threshold_raw, dtype=np.float64)
    p = np.array([_probability(v, "p") for v in p_raw], dtype=np.float64)
    n = len(left)
    _expect(n > 0 and all(len(a) == n for a in (right, feature, threshold, p)), "tree arrays differ in length")
    inner = left >= 0
    indices = np.arange(n)
    # children come after their parent (no cycles), leaves have no children, splits name a real feature
    _expect(bool(np.all((left[inner] > indices[inner]) & (left[inner] < n))), "left children out of order")
    _expect(bool(np.all((right[inner] > indices[inner]) & (right[inner] < n))), "right children out of order")
    _expect(bool(np.all(right[~inner] < 0)), "a leaf has a right child")
    _expect(bool(np.all((feature[inner] >= 0) & (feature[inner] < n_features))), "split feature out of range")
    _expect(bool(np.all(np.isfinite(threshold[inner]))), "thresholds must be finite")
    return Tree(left, right, np.where(inner, feature, 0), threshold, p)


def _metrics(raw: Any) -> ModelMetrics:
    _expect(isinstance(raw, dict), "metrics must be an object")
    scores = raw["cross_val_scores"]
    _expect(isinstance(scores, list), "cross_val_scores must be a list")
    matrix = raw["confusion_matrix"]
    _expect(
        isinstance(matrix, list)
        and len(matrix) == 2
        and all(isinstance(row, list) and len(row) == 2 and all(type(v) is int for v in row) for row in matrix),
        "confusion_matrix must be 2x2 integers",
    )
    counts = [raw[k] for k in ("training_samples", "test_samples", "test_pairs")]
    _expect(all(type(v) is int and v >= 0 for v in counts), "sample counts must be integers")
    _expect(isinstance(raw["trained_at"], str), "trained_at must be a string")
    return ModelMetrics(
        accuracy=_probability(raw["accuracy"], "accuracy"),
        precision=_probability(raw["precision"], "precision"),
        recall=_probability(raw["recall"], "recall"),
        f1_score=_probability(raw["f1_score"], "f1_score"),
        cross_val_scores=[_probability(v, "a cross-validation score") for v in scores],
        training_samples=counts[0],
        test_samples=counts[1],
        confusion_matrix=[list(row) for row in matrix],
        test_pairs=counts[2],
        trained_at=raw["trained_at"],
    )


def _entry(raw: Any, names: frozenset[str]) -> tuple[PairKey, PairEntry]:
    _expect(isinstance(raw, dict), "a table entry must be an object")
    key = (raw["mixin_a"], raw["mixin_b"], raw["node_type"])
    _expect(all(isinstance(k, str) for k in key), "a table entry's names must be strings")
    samples, reasons, conflict = raw["samples"], raw["reasons"], raw["conflict_reason"]
    _expect(type(samples) is int and samples >= 0, "samples must be a count")
    _expect(conflict is None or isinstance(conflict, str), "conflict_reason must be a string or null")
    _expect(isinstance(reasons, list), "reasons must be a list")
    parsed: list[tuple[str, float]] = []
    for item in reasons:
        _expect(isinstance(item, list) and len(item) == 2, "a reason is [feature, contribution]")
        name, value = item
        _expect(isinstance(name, str) and name.removeprefix(ABSENT) in names, f"unknown feature {name!r}")
        _expect(isinstance(value, int | float) and math.isfinite(value), "a contribution must be a number")
        parsed.append((name, float(value)))
    p = _probability(raw["p_compatible"], "p_compatible")
    return key, PairEntry(p, samples, tuple(parsed), conflict)


def _parse(raw: Any) -> TrainedModel:
    _expect(isinstance(raw, dict), "the top level must be an object")
    _expect(raw.get("format") == FORMAT, f"format must be {FORMAT!r}")
    _expect(raw.get("version") == VERSION, f"version must be {VERSION}")
    names = _strings(raw["feature_names"], "feature_names")
    mixins = _strings(raw["mixins"], "mixins")
    digest = raw["catalogue_digest"]
    _expect(isinstance(digest, str), "catalogue_digest must be a string")
    trees_raw = raw["trees"]
    _expect(isinstance(trees_raw, list) and len(trees_raw) > 0, "trees must be a non-empty list")
    trees = tuple(_tree(t, len(names)) for t in trees_raw)
    table_raw = raw["table"]
    _expect(isinstance(table_raw, list), "table must be a list")
    known = frozenset(names)
    table = dict(_entry(e, known) for e in table_raw)
    return TrainedModel(names, Forest(trees), table, _metrics(raw["metrics"]), digest, mixins)
