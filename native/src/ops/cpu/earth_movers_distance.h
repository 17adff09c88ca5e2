// Exact earth mover's distance (optimal transport between two discrete distributions), CPU only:
// the network simplex is a sequential pivoting algorithm with no useful GPU form, and the problem
// sizes replay needs (≤ a few thousand points) take milliseconds here. The TypeScript solver in
// @pillow/replay is the reference and the fallback when the addon is absent.
#pragma once
#include <cstdint>

namespace pillow {

// Pairwise ground costs in f64. out[n, m]; a[n, dim], b[m, dim] (f32 rows).
// metric 0: cosine 1 − ⟨a,b⟩/(|a||b|) (clamped at 0; a zero row is E_ARGUMENT), 1: euclidean, 2: squared euclidean.
void pairwise_cost_forward(double* out, const float* a, const float* b, int64_t n, int64_t m, int64_t dim, int metric);

// min Σ costs[i·m + j]·x_ij  s.t.  Σ_j x_ij = a[i], Σ_i x_ij = b[j], x ≥ 0, by the primal network simplex.
// out_cost[1] = the optimum, out_pivots[1] = pivots taken. a[n], b[m] ≥ 0 with equal sums; costs[n, m] finite.
// Throws E_ARGUMENT on bad input or when max_pivots is exceeded.
void earth_movers_distance_forward(double* out_cost, int64_t* out_pivots, const double* a, const double* b,
                                   const double* costs, int64_t n, int64_t m, int64_t max_pivots);

}  // namespace pillow
