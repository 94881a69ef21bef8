"""The one summary of evaluation records: the paper's figures, overall and per shape.

:func:`summarize` turns episode records (:func:`toolgym.evaluate.episode_record`) into the figures
of :data:`FIGURES`; :class:`EvalReport` holds them overall and per shape, and renders the table.
``toolgym eval``, ``toolgym report``, training's held-out evaluation and the benchmarks all report
through them, so the same episodes get the same figures everywhere.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from toolgym.scenario import SHAPES

__all__ = ["FIGURES", "EvalReport", "pass_hat_k", "summarize"]

FIGURES = (
    "solve_precision", "solve_rate", "solve_f1", "answer_accuracy", "pass_rate",
    "tool_selection", "parameter_identification", "content_filling",
)
"""The figures of a summary, in table order, each a mean over the episodes it applies to (``None``
where it applies to none): Solve-P/R/F1 to episodes with sub-answers (generated scenarios, FTRL
rows), answer accuracy to questions (those and ToolHop), the pass rate (pass^1) to stateful tasks,
RoTBench's tool selection, parameter identification and content filling to its replies. Episodes
that failed with an infrastructure error count in none. Where some episodes met a transient tool
fault (the env's ``fault_rate``), the summary adds ``faulted_episodes`` and ``recovery_rate``: the
share of those solved despite the fault: passed (stateful tasks), or answered correctly with every
sub-answer obtained from the tools."""

_HEADERS = {"solve_precision": "Solve-P", "solve_rate": "Solve-R", "solve_f1": "Solve-F1",
            "answer_accuracy": "Answer", "pass_rate": "Pass", "tool_selection": "TS",
            "parameter_identification": "PI", "content_filling": "CF"}


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(episodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The figures of some episode records: each of :data:`FIGURES`, the mean over the episodes it
    applies to (None where it applies to none), the count of scored ``episodes`` and of ``errors``
    (episodes a model server failed: in no figure). Where stateful tasks were played more than
    once (``samples``), ``pass_hat_k`` maps each k to tau-bench's pass^k (:func:`pass_hat_k`)."""
    record_keys = {"answer_accuracy": "answer_correct", "pass_rate": "passed"}
    scored = [e for e in episodes if not e.get("error")]
    summary: dict[str, Any] = {}
    for figure in FIGURES:
        key = record_keys.get(figure, figure)
        summary[figure] = _mean([float(e[key]) for e in scored if e.get(key) is not None])
    summary["episodes"] = len(scored)
    summary["errors"] = len(episodes) - len(scored)
    faulted = [e for e in scored if e.get("faults")]
    if faulted:  # the env's fault_rate: episodes solved despite a transient tool failure
        summary["faulted_episodes"] = len(faulted)
        summary["recovery_rate"] = _mean([float(_solved(e)) for e in faulted])
    if hat := pass_hat_k(scored):
        summary["pass_hat_k"] = hat
    return summary


def _solved(episode: Mapping[str, Any]) -> bool:
    """Whether an episode was solved: passed (stateful), or answered correctly with every
    sub-answer obtained from the tools."""
    if episode.get("passed") is not None:
        return bool(episode["passed"])
    return bool(episode.get("answer_correct")) and episode.get("solve_rate") in (None, 1.0)


def pass_hat_k(episodes: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """tau-bench's pass^k: the chance that k trials of a task all pass, ``C(c, k) / C(n, k)`` for
    a task passed c times in n trials, averaged over the tasks with at least k trials; for k
    from 1 to the most trials of a task. Empty unless some stateful task has several trials.

    Example:
        >>> runs = [{"scenario_id": "a", "passed": p} for p in (True, True, False)]
        >>> pass_hat_k(runs)
        {'1': 0.6666666666666666, '2': 0.3333333333333333, '3': 0.0}
    """
    trials: dict[str, list[bool]] = {}
    for e in episodes:
        if e.get("passed") is not None:
            trials.setdefault(str(e["scenario_id"]), []).append(bool(e["passed"]))
    most = max((len(t) for t in trials.values()), default=0)
    if most < 2:
        return {}
    return {str(k): sum(math.comb(sum(t), k) / math.comb(len(t), k) for t in trials.values() if len(t) >= k)
            / sum(1 for t in trials.values() if len(t) >= k) for k in range(1, most + 1)}


_ORDER = (*SHAPES, "direct", "mandatory", "free")
"""The paper's shapes in its order, then ToolHop's modes in FTRL's."""


def _shape_order(shape: str) -> tuple[str, int, str]:
    """By benchmark (``self/``, ``toolhop/``, ...), then the paper's order of shapes and modes, then by name."""
    prefix, _, base = shape.rpartition("/")
    return (prefix, _ORDER.index(base) if base in _ORDER else len(_ORDER), shape)


def _table(rows: Iterable[tuple[tuple[str, ...], Mapping[str, Any]]], labels: tuple[str, ...]) -> str:
    """Rows of summaries in percent; a figure that applies to none of the rows gets no column."""
    rows = list(rows)
    figures = [k for k in FIGURES if any(summary.get(k) is not None for _, summary in rows)] or list(FIGURES[:3])
    widths = [max([len(label), *(len(key[i]) for key, _ in rows)]) for i, label in enumerate(labels)]
    left = "  ".join(f"{label:<{w}}" for label, w in zip(labels, widths, strict=True))
    header = f"{left}  {'episodes':>8}" + "".join(f"  {_HEADERS[k]:>8}" for k in figures)
    lines = [header, "-" * len(header)]
    for key, summary in rows:
        names = "  ".join(f"{name:<{w}}" for name, w in zip(key, widths, strict=True))
        cells = "".join(f"  {_percent(summary.get(k)):>8}" for k in figures)
        lines.append(f"{names}  {summary['episodes']:>8}{cells}")
    return "\n".join(lines)


@dataclass
class EvalReport:
    """The figures of an evaluation, overall and per shape, and the episodes they come from.

    A summary maps each of :data:`FIGURES` to a mean in [0, 1] (or ``None``) and ``episodes`` to
    the count (see :func:`summarize`); ``episodes`` holds the :func:`episode_record` of each.
    """

    overall: dict[str, Any]
    by_shape: dict[str, dict[str, Any]]
    episodes: list[dict[str, Any]] = field(default_factory=list)
    sandbox: str | None = None
    """How tools given as source were isolated (``"os"``, ``"process"``), None when none ran."""

    @classmethod
    def from_records(cls, episodes: Sequence[Mapping[str, Any]]) -> EvalReport:
        """Summarizes episode records overall and per shape (shapes in the paper's order)."""
        shapes = sorted({e["shape"] for e in episodes}, key=_shape_order)
        by_shape = {shape: summarize([e for e in episodes if e["shape"] == shape]) for shape in shapes}
        return cls(overall=summarize(episodes), by_shape=by_shape, episodes=[dict(e) for e in episodes])

    def to_dict(self, episodes: bool = False) -> dict[str, Any]:
        """``{"overall": ..., "by_shape": ...}`` (and ``"episodes"`` when asked)."""
        out: dict[str, Any] = {"overall": self.overall, "by_shape": self.by_shape}
        if self.sandbox is not None:
            out["sandbox"] = self.sandbox
        if episodes:
            out["episodes"] = self.episodes
        return out

    def to_json(self, episodes: bool = False, indent: int | None = None) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(episodes), indent=indent, ensure_ascii=False)

    def table(self) -> str:
        """A text table like the paper's: one row per shape, then the overall row, in percent; then
        pass^k, infrastructure errors and the sandbox's isolation, where they apply."""
        rows = [((shape,), summary) for shape, summary in self.by_shape.items()]
        lines = [_table([*rows, (("overall",), self.overall)], ("shape",))]
        if faulted := self.overall.get("faulted_episodes"):
            lines.append(f"recovery: {_percent(self.overall['recovery_rate'])}% of the {faulted} "
                         "episodes with a transient tool fault were still solved")
        if hat := self.overall.get("pass_hat_k"):
            lines.append("pass^k: " + "  ".join(f"k={k} {_percent(v)}" for k, v in hat.items()))
        if errors := self.overall.get("errors"):
            lines.append(f"{errors} episodes failed with infrastructure errors (model server): not scored; "
                         "their records hold the reason, and a rerun with the same --out plays them again")
        if self.sandbox is not None:
            lines.append(f"sandboxed tools ran with {self.sandbox} isolation")
        return "\n".join(lines)

    @staticmethod
    def compare(reports: Mapping[str, EvalReport]) -> str:
        """One table of several reports (e.g. training stages): a row per (name, shape) and overall."""
        rows = []
        for name, report in reports.items():
            rows += [((name, shape), summary) for shape, summary in report.by_shape.items()]
            rows.append(((name, "overall"), report.overall))
        return _table(rows, ("run", "shape"))
