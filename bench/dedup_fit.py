"""Fit the dedup matcher's logistic scorer and choose its thresholds, on the dev split only.

    .venv/bin/python -m bench.dedup_fit            # rewrites services/dedup/fitted.py
    .venv/bin/python -m bench.dedup_fit --check    # fails if fitted.py is not what it fits

1. Examples: dev.jsonl is replayed in time order (in a city with open background cases
   made from dev's own texts: test.jsonl is never read) with every report put where it
   truly belongs, and every candidate the matcher considers becomes one example: its
   features (matching.FEATURES) and whether it is the report's own incident (or, for a
   closed case, the incident the report repeats).
2. Coefficients: L2-regularised logistic regression by Newton's method (numpy).
3. Thresholds: the real replay of dev (decisions feed back into the index) for a grid of
   merge / review / ambiguity thresholds; kept: the best pairwise F1 among those with
   precision >= PRECISION_FLOOR, then the review threshold that recovers most pairs for a
   reviewer while sending at most REVIEW_CAP of reports to review.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import replace
from datetime import datetime
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from bench.suites.dedup import (
    after_review,
    facts_of,
    load,
    new_index,
    pairwise,
    replay_matcher,
    with_background,
)
from services.dedup.matching import FEATURES, MatchConfig, Matcher, features_of

OUT = Path(__file__).resolve().parent.parent / "services" / "dedup" / "fitted.py"
L2 = 1.0
PRECISION_FLOOR = 0.98  # on dev: room below for the held-out split
REVIEW_CAP = 0.08
MERGE_GRID = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
MARGIN_GRID = (0.01, 0.05, 0.1)  # an ambiguity rule always: dozens alike go to a person
REVIEW_GRID = (0.2, 0.3, 0.4)


def dev_lines() -> list[dict[str, Any]]:
    return with_background(load("dev"), "dev")


def examples(lines: list[dict[str, Any]], config: MatchConfig
             ) -> tuple[np.ndarray, np.ndarray]:
    """Every candidate of every report, replayed with the true decisions."""
    index = new_index()
    matcher = Matcher(index, config)
    case_of_cluster: dict[str, str] = {}
    cluster_of_case: dict[str, str] = {}
    xs: list[list[float]] = []
    ys: list[float] = []
    for x in lines:
        if x["kind"] == "background":
            index.add_case(facts_of(x))
            continue
        if x["kind"] == "close":
            if case := case_of_cluster.get(x["cluster"]):
                index.close_case(uuid.UUID(case), datetime.fromisoformat(x["at"]))
            continue
        facts = facts_of(x)
        wanted = {x["cluster"], x["repeat_of"]}
        for c in matcher.candidates(facts):
            xs.append(features_of(c.signals, config))
            truth = cluster_of_case.get(str(c.case_id))
            ys.append(float(truth in wanted if c.closed else truth == x["cluster"]))
        own = case_of_cluster.get(x["cluster"])
        entry = index.entries.get(uuid.UUID(own)) if own else None
        if entry is not None and not entry.closed:
            index.add_report(entry.case_id, facts)
        else:
            index.add_case(facts)
            case_of_cluster[x["cluster"]] = x["case_id"]
            cluster_of_case[x["case_id"]] = x["cluster"]
    return np.array(xs), np.array(ys)


def fit(x: np.ndarray, y: np.ndarray, l2: float = L2) -> np.ndarray:
    """Logistic regression, intercept unpenalised, by Newton's method."""
    a = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(a.shape[1])
    penalty = np.eye(a.shape[1]) * l2
    penalty[0, 0] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(a @ beta, -30, 30)))
        grad = a.T @ (p - y) + penalty @ beta
        hess = (a * (p * (1 - p))[:, None]).T @ a + penalty
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def choose(lines: list[dict[str, Any]], base: MatchConfig) -> tuple[MatchConfig, dict[str, Any]]:
    best: tuple[float, MatchConfig, dict[str, Any]] | None = None
    for merge_at, margin in product(MERGE_GRID, MARGIN_GRID):
        cfg = replace(base, merge_at=merge_at, link_at=merge_at, ambiguity_margin=margin,
                      review_at=merge_at)
        got = pairwise(lines, replay(lines, cfg))
        if got["precision"] >= PRECISION_FLOOR and (best is None or got["f1"] > best[0]):
            best = (got["f1"], cfg, got)
    assert best is not None, "no threshold reaches the precision floor on dev"
    _, cfg, got = best
    chosen, chosen_f1 = cfg, -1.0
    for review_at in REVIEW_GRID:
        if review_at >= cfg.merge_at:
            continue
        trial = replace(cfg, review_at=review_at)
        r = replay(lines, trial)
        share = sum(o == "review" for o in r.outcome.values()) / len(r.outcome)
        f1 = pairwise(lines, after_review(lines, r))["f1"]
        if share <= REVIEW_CAP and f1 > chosen_f1:
            chosen, chosen_f1 = trial, f1
    return chosen, got


def replay(lines: list[dict[str, Any]], cfg: MatchConfig) -> Any:
    return replay_matcher(lines, new_index(), cfg)


def render(beta: np.ndarray, cfg: MatchConfig, note: str) -> str:
    rows = "".join(f"    {b:.4f},  # {name}\n"
                   for name, b in zip(("intercept", *FEATURES), beta, strict=True))
    return (
        '"""The matcher\'s logistic scorer, fitted on the evaluation set\'s dev split.\n\n'
        "Generated by `python -m bench.dedup_fit` (see docs/dedup-evaluation.md); do not "
        'edit.\n"""\n\n'
        "# intercept, then services.dedup.matching.FEATURES in order\n"
        f"COEFFICIENTS = (\n{rows})\n"
        f"MERGE_AT = {cfg.merge_at}\n"
        f"REVIEW_AT = {cfg.review_at}\n"
        f"LINK_AT = {cfg.link_at}\n"
        f"AMBIGUITY_MARGIN = {cfg.ambiguity_margin}\n"
        f"# dev (fitting replay): {note}\n"
    )


def main(argv: list[str]) -> int:
    lines = dev_lines()
    base = MatchConfig(coefficients=(0.0,) * (len(FEATURES) + 1))  # examples need no scores
    x, y = examples(lines, base)
    beta = fit(x, y)
    print(f"{len(y)} examples, {int(y.sum())} positive")
    for name, b in zip(("intercept", *FEATURES), beta, strict=True):
        print(f"  {name:>16} {b:+.3f}")
    cfg, got = choose(lines, replace(base, coefficients=tuple(float(f"{b:.4f}") for b in beta)))
    note = (f"precision {got['precision']:.3f} recall {got['recall']:.3f} "
            f"f1 {got['f1']:.3f}")
    print(f"merge_at {cfg.merge_at} review_at {cfg.review_at} margin {cfg.ambiguity_margin}; "
          + note)
    text = render(beta, cfg, note)
    if "--check" in argv:
        same = OUT.read_text(encoding="utf-8") == text
        print("fitted.py is up to date" if same else "fitted.py differs from the fit")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
