"""The numbers of an eval: per variant, pass rate with its Wilson interval, cost, turns and
time; per task, the paired difference of each variant against the first.

A trial whose outcome is ``error`` (its setup failed, its judge crashed) says nothing about
the variant: it is counted apart and left out of every rate.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Z95 = 1.959963984540054  # the normal quantile of 0.975


def wilson(passes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a pass rate: sound for small n and for 0 or n passes,
    where the normal approximation gives nonsense. (0, 1) when there are no trials."""
    if n == 0:
        return 0.0, 1.0
    p = passes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class VariantStats:
    variant: str
    trials: int  # all, errors included
    judged: int  # passes + fails
    passes: int
    errors: int
    pass_rate: float | None
    interval: tuple[float, float]
    cost_usd: float
    cost_per_task: float | None  # per judged trial
    cost_per_pass: float | None
    median_turns: float | None
    median_wall_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "interval": list(self.interval)}


def variant_stats(variant: str, trials: Sequence[dict[str, Any]]) -> VariantStats:
    judged = [t for t in trials if t["outcome"] in ("pass", "fail")]
    passes = sum(t["outcome"] == "pass" for t in judged)
    cost = sum(t.get("cost_usd") or 0.0 for t in trials)
    return VariantStats(
        variant=variant, trials=len(trials), judged=len(judged), passes=passes, errors=len(trials) - len(judged),
        pass_rate=passes / len(judged) if judged else None, interval=wilson(passes, len(judged)),
        cost_usd=cost, cost_per_task=cost / len(judged) if judged else None,
        cost_per_pass=cost / passes if passes else None,
        median_turns=statistics.median(t["turns"] for t in judged) if judged else None,
        median_wall_s=statistics.median(t["wall_s"] for t in judged) if judged else None,
    )


def task_pass_rate(trials: Sequence[dict[str, Any]]) -> float | None:
    """The pass rate of one task × variant over its repeats; None when none was judged."""
    judged = [t for t in trials if t["outcome"] in ("pass", "fail")]
    return sum(t["outcome"] == "pass" for t in judged) / len(judged) if judged else None


def paired_differences(tasks: Sequence[str], variants: Sequence[str],
                       trials: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each variant against the first, task by task: the difference of their pass rates on
    the same task (None where either was not judged), and the mean over the tasks both were
    judged on. Pairing by task takes the tasks' own difficulty out of the comparison."""
    rate = {(task, variant): task_pass_rate([t for t in trials if t["task"] == task and t["variant"] == variant])
            for task in tasks for variant in variants}
    result: dict[str, Any] = {"baseline": variants[0] if variants else None, "variants": {}}
    for variant in variants[1:]:
        baseline = variants[0]
        per_task = {}
        for task in tasks:
            a, b = rate[task, baseline], rate[task, variant]
            per_task[task] = None if a is None or b is None else b - a
        paired = [d for d in per_task.values() if d is not None]
        result["variants"][variant] = {"per_task": per_task, "tasks": len(paired),
                                       "mean": sum(paired) / len(paired) if paired else None}
    result["rates"] = {task: {variant: rate[task, variant] for variant in variants} for task in tasks}
    return result
