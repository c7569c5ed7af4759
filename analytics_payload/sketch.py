"""A mergeable quantile sketch with a stated error bound (DDSketch, Masson et al., VLDB 2019).

Values are counted in logarithmic buckets: bucket ``i`` holds values in (gamma^(i-1), gamma^i]
with gamma = (1 + a) / (1 - a). Any quantile read from the sketch is within a relative error ``a``
of the true value at that rank (the ``rank = floor(q * (n - 1))`` order statistic), and two
sketches merge exactly by adding their bucket counts: the sketch of the union is the union of
the sketches, whatever the order. Negative values use a mirrored set of buckets; zero has its own.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["RELATIVE_ACCURACY", "QuantileSketch"]

#: The stated bound: every quantile is within 0.5% (relative) of the true order statistic.
RELATIVE_ACCURACY = 0.005
#: Magnitudes below this count as zero (well below any sensor reading's resolution).
_MIN_MAGNITUDE = 1e-9


@dataclass
class QuantileSketch:
    accuracy: float = RELATIVE_ACCURACY
    positive: Counter[int] = field(default_factory=Counter)
    negative: Counter[int] = field(default_factory=Counter)
    zeros: int = 0

    @property
    def gamma(self) -> float:
        return (1 + self.accuracy) / (1 - self.accuracy)

    @property
    def count(self) -> int:
        return self.zeros + sum(self.positive.values()) + sum(self.negative.values())

    def _indices(self, magnitudes: np.ndarray) -> np.ndarray:
        indices: np.ndarray = np.ceil(np.log(magnitudes) / math.log(self.gamma)).astype(np.int64)
        return indices

    def add_many(self, values: Iterable[float] | np.ndarray) -> QuantileSketch:
        array = np.asarray(values, dtype=float)
        array = array[~np.isnan(array)]
        small = np.abs(array) < _MIN_MAGNITUDE
        self.zeros += int(small.sum())
        for sign, store in ((1.0, self.positive), (-1.0, self.negative)):
            chosen = array[(np.sign(array) == sign) & ~small]
            if chosen.size:
                keys, counts = np.unique(self._indices(np.abs(chosen)), return_counts=True)
                store.update(dict(zip(keys.tolist(), counts.tolist(), strict=True)))
        return self

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        if other.accuracy != self.accuracy:
            raise ValueError("sketches of different accuracy cannot be merged")
        merged = QuantileSketch(
            self.accuracy, Counter(self.positive), Counter(self.negative), self.zeros
        )
        merged.positive.update(other.positive)
        merged.negative.update(other.negative)
        merged.zeros += other.zeros
        return merged

    def _value(self, index: int) -> float:
        """The representative of bucket ``index``: within the relative accuracy of every value
        the bucket holds."""
        return 2 * self.gamma**index / (self.gamma + 1)

    def quantile(self, q: float) -> float | None:
        """The value at rank floor(q * (n - 1)), within the relative accuracy."""
        total = self.count
        if total == 0:
            return None
        rank = math.floor(q * (total - 1))
        seen = 0
        for index in sorted(self.negative, reverse=True):  # most negative first
            seen += self.negative[index]
            if seen > rank:
                return -self._value(index)
        seen += self.zeros
        if seen > rank:
            return 0.0
        for index in sorted(self.positive):
            seen += self.positive[index]
            if seen > rank:
                return self._value(index)
        return self._value(max(self.positive)) if self.positive else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "zeros": self.zeros,
            "positive": {str(k): v for k, v in sorted(self.positive.items())},
            "negative": {str(k): v for k, v in sorted(self.negative.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantileSketch:
        return cls(
            float(data["accuracy"]),
            Counter({int(k): int(v) for k, v in data["positive"].items()}),
            Counter({int(k): int(v) for k, v in data["negative"].items()}),
            int(data["zeros"]),
        )
