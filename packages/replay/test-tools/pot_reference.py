#!/usr/bin/env python3
"""Reference values for @pillow/replay's wasserstein tests, computed by POT (Debian's python3-pot).

Writes test-tools/pot-reference.json: random point sets of several sizes (equal and
unequal, uniform and non-uniform weights, three ground costs) with POT's exact `ot.emd2` and
log-domain `ot.sinkhorn2` values. Run from packages/replay:
    /usr/bin/python3 test-tools/pot_reference.py
"""
import json
import os

import numpy as np
import ot

rng = np.random.default_rng(20240311)
cases = []


def add_case(name, n, m, dim, cost, weighted, epsilon=None, clustered=False):
    a = rng.standard_normal((n, dim)).astype(np.float32)
    if clustered:
        # The second set is a noisy copy of part of the first: distances near, not at, zero.
        b = (a[rng.integers(0, n, m)] + 0.05 * rng.standard_normal((m, dim))).astype(np.float32)
    else:
        b = rng.standard_normal((m, dim)).astype(np.float32)
    if weighted:
        wa = rng.random(n) + 0.05
        wb = rng.random(m) + 0.05
    else:
        wa = np.ones(n)
        wb = np.ones(m)
    wa = wa / wa.sum()
    wb = wb / wb.sum()
    metric = {"cosine": "cosine", "euclidean": "euclidean", "sqeuclidean": "sqeuclidean"}[cost]
    M = ot.dist(a.astype(np.float64), b.astype(np.float64), metric=metric)
    exact = float(ot.emd2(wa, wb, M, numItermax=10_000_000))
    case = {
        "name": name,
        "n": n,
        "m": m,
        "dim": dim,
        "cost": cost,
        "a": a.ravel().tolist(),
        "b": b.ravel().tolist(),
        "weightsA": wa.tolist() if weighted else None,
        "weightsB": wb.tolist() if weighted else None,
        "exact": exact,
    }
    if epsilon is not None:
        case["epsilon"] = epsilon
        case["sinkhorn"] = float(
            ot.sinkhorn2(wa, wb, M, epsilon, method="sinkhorn_log", numItermax=100_000, stopThr=1e-12)
        )
    cases.append(case)


add_case("2x2 cosine", 2, 2, 3, "cosine", False)
add_case("3x5 cosine weighted", 3, 5, 4, "cosine", True, epsilon=0.05)
add_case("7x7 euclidean", 7, 7, 2, "euclidean", False, epsilon=0.1)
add_case("10x4 sqeuclidean weighted", 10, 4, 3, "sqeuclidean", True)
add_case("20x20 cosine", 20, 20, 8, "cosine", False, epsilon=0.02)
add_case("25x40 cosine weighted", 25, 40, 16, "cosine", True, epsilon=0.02)
add_case("40x25 euclidean weighted", 40, 25, 5, "euclidean", True)
add_case("60x60 cosine clustered", 60, 60, 16, "cosine", False, clustered=True)
add_case("100x80 cosine weighted", 100, 80, 32, "cosine", True, epsilon=0.05)
add_case("150x150 sqeuclidean", 150, 150, 4, "sqeuclidean", False)
add_case("200x120 cosine weighted clustered", 200, 120, 24, "cosine", True, clustered=True)
add_case("300x300 cosine", 300, 300, 6, "cosine", False)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pot-reference.json")
with open(out, "w") as handle:
    json.dump({"generator": "test-tools/pot_reference.py", "pot": ot.__version__, "cases": cases}, handle)
print(f"wrote {len(cases)} cases to {out}")
