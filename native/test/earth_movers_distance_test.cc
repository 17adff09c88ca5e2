#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "ops/cpu/earth_movers_distance.h"
#include "runtime/errors.h"
#include "test_harness.h"

using namespace pillow;

namespace {

uint32_t next_random(uint32_t& state) {
  state = state * 1664525u + 1013904223u;
  return state >> 8;
}

// Brute force for n = m with uniform weights: the optimum is a permutation (Birkhoff–von Neumann).
double best_assignment(const std::vector<double>& costs, int n) {
  std::vector<int> permutation(n);
  std::iota(permutation.begin(), permutation.end(), 0);
  double best = INFINITY;
  do {
    double total = 0;
    for (int i = 0; i < n; ++i) total += costs[i * n + permutation[i]];
    best = std::min(best, total);
  } while (std::next_permutation(permutation.begin(), permutation.end()));
  return best / n;
}

}  // namespace

TEST(earth_movers_distance_matches_brute_force_assignment) {
  uint32_t state = 12345;
  for (int trial = 0; trial < 30; ++trial) {
    const int n = 2 + trial % 5;
    std::vector<double> costs(n * n), weights(n, 1.0 / n);
    for (double& c : costs) c = (next_random(state) % 1000) / 1000.0;  // ties on purpose
    double cost = -1;
    int64_t pivots = -1;
    earth_movers_distance_forward(&cost, &pivots, weights.data(), weights.data(), costs.data(), n, n, 1000000);
    CHECK_NEAR(cost, best_assignment(costs, n), 1e-12);
    CHECK(pivots >= 0);
  }
}

TEST(earth_movers_distance_hand_cases) {
  // Row 0 pays 1 wherever it goes; row 2 is free; zero weights on both sides.
  const double a[] = {0.5, 0, 0.5}, b[] = {0, 0.5, 0.5};
  const double costs[] = {1, 1, 1, 1, 1, 1, 0, 0, 0};
  double cost = -1;
  int64_t pivots = 0;
  earth_movers_distance_forward(&cost, &pivots, a, b, costs, 3, 3, 1000);
  CHECK_NEAR(cost, 0.5, 1e-12);
  // One source spreads over three sinks: the weighted mean cost.
  const double one[] = {1}, three[] = {0.25, 0.25, 0.5}, row[] = {0, 1, 2};
  earth_movers_distance_forward(&cost, &pivots, one, three, row, 1, 3, 1000);
  CHECK_NEAR(cost, 1.25, 1e-12);
}

TEST(pairwise_cost_cosine_and_euclidean) {
  const float a[] = {3, 4};
  const float b[] = {4, 3, 0, 1, 1, 1, 2, 0, -3, -4};
  std::vector<double> out(5);
  pairwise_cost_forward(out.data(), a, b, 1, 5, 2, 0);
  CHECK_NEAR(out[0], 1 - 24.0 / 25, 1e-12);
  CHECK_NEAR(out[1], 1 - 4.0 / 5, 1e-12);
  CHECK_NEAR(out[4], 2.0, 1e-12);
  pairwise_cost_forward(out.data(), a, b, 1, 5, 2, 1);
  CHECK_NEAR(out[1], std::sqrt(18.0), 1e-12);
  pairwise_cost_forward(out.data(), a, b, 1, 5, 2, 2);
  CHECK_NEAR(out[3], 17.0, 1e-12);
}

TEST(earth_movers_distance_rejects_bad_input) {
  const double a[] = {0.5, 0.5}, negative[] = {1.5, -0.5}, costs[] = {0, 1, 1, NAN};
  const double good_costs[] = {0, 1, 1, 0};
  double cost = 0;
  int64_t pivots = 0;
  bool threw = false;
  try {
    earth_movers_distance_forward(&cost, &pivots, a, a, costs, 2, 2, 100);
  } catch (const PillowError& e) {
    threw = std::string(e.code()) == kErrorArgument;
  }
  CHECK(threw);
  threw = false;
  try {
    earth_movers_distance_forward(&cost, &pivots, negative, a, good_costs, 2, 2, 100);
  } catch (const PillowError& e) {
    threw = std::string(e.code()) == kErrorArgument;
  }
  CHECK(threw);
  threw = false;
  const float zero[] = {0, 0};
  std::vector<double> out(1);
  try {
    pairwise_cost_forward(out.data(), zero, zero, 1, 1, 2, 0);
  } catch (const PillowError& e) {
    threw = std::string(e.code()) == kErrorArgument;
  }
  CHECK(threw);
}
