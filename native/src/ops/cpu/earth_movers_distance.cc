// Network simplex for the transportation problem; the same algorithm, data layout and pivoting rules
// as packages/replay/src/wasserstein/network-simplex.ts (see there for the derivation):
//   nodes: n sources, m sinks, one artificial root; arcs: n·m real arcs i → j plus one artificial arc
//   per node; the basis is a spanning tree (parent pointers + doubly linked child lists) with node
//   potentials π making every tree arc's reduced cost zero; block-search pricing; strongly feasible
//   leaving-arc rule (no cycling); the cut subtree is re-hung on the entering arc and its potentials
//   shifted by one constant.
#include "ops/cpu/earth_movers_distance.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "runtime/errors.h"

namespace pillow {

namespace {

constexpr int8_t kUp = 1;     // the tree arc points from the node to its parent
constexpr int8_t kDown = -1;  // the tree arc points from the parent to the node

void check_sizes(const char* op, int64_t n, int64_t m) {
  if (n < 1 || m < 1) throw_shape_error(std::string(op) + ": n and m must be >= 1");
  if (n > (int64_t{1} << 30) / m) throw_shape_error(std::string(op) + ": n·m is too large");
}

}  // namespace

void pairwise_cost_forward(double* out, const float* a, const float* b, int64_t n, int64_t m, int64_t dim, int metric) {
  check_sizes("pairwise_cost_forward", n, m);
  if (dim < 1) throw_shape_error("pairwise_cost_forward: dim must be >= 1");
  if (metric < 0 || metric > 2) throw_argument_error("pairwise_cost_forward: metric must be 0, 1 or 2");
  if (!out || !a || !b) throw_argument_error("pairwise_cost_forward: null pointer");
  std::vector<double> left(static_cast<size_t>(n * dim)), right(static_cast<size_t>(m * dim));
  auto prepare = [&](std::vector<double>& rows, const float* source, int64_t count, const char* name) {
    for (int64_t i = 0; i < count; ++i) {
      double squared = 0;
      for (int64_t k = 0; k < dim; ++k) {
        const double x = source[i * dim + k];
        if (!std::isfinite(x)) {
          throw_argument_error(std::string("pairwise_cost_forward: ") + name + " point " + std::to_string(i) +
                               " has a non-finite coordinate");
        }
        rows[i * dim + k] = x;
        squared += x * x;
      }
      if (metric == 0) {
        if (squared == 0) {
          throw_argument_error(std::string("pairwise_cost_forward: ") + name + " point " + std::to_string(i) +
                               " is the zero vector; the cosine cost is undefined for it");
        }
        const double inverse = 1.0 / std::sqrt(squared);
        for (int64_t k = 0; k < dim; ++k) rows[i * dim + k] *= inverse;
      }
    }
  };
  prepare(left, a, n, "a");
  prepare(right, b, m, "b");
  // Four columns per pass share each load of row i (register blocking); the independent sums also
  // let the compiler keep four FMA chains in flight without reassociating one sum.
  auto cost_of = [metric](double accumulated) {
    if (metric == 0) {
      const double value = 1.0 - accumulated;
      return value > 0 ? value : 0.0;  // round-off can leave 1 − cos just below zero
    }
    return metric == 1 ? std::sqrt(accumulated) : accumulated;
  };
  const int64_t blocked = m - m % 4;
  for (int64_t i = 0; i < n; ++i) {
    const double* x = &left[i * dim];
    double* row = out + i * m;
    for (int64_t j = 0; j < blocked; j += 4) {
      const double* y0 = &right[j * dim];
      const double* y1 = y0 + dim;
      const double* y2 = y1 + dim;
      const double* y3 = y2 + dim;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      if (metric == 0) {
        for (int64_t k = 0; k < dim; ++k) {
          const double xk = x[k];
          s0 += xk * y0[k];
          s1 += xk * y1[k];
          s2 += xk * y2[k];
          s3 += xk * y3[k];
        }
      } else {
        for (int64_t k = 0; k < dim; ++k) {
          const double xk = x[k];
          const double d0 = xk - y0[k], d1 = xk - y1[k], d2 = xk - y2[k], d3 = xk - y3[k];
          s0 += d0 * d0;
          s1 += d1 * d1;
          s2 += d2 * d2;
          s3 += d3 * d3;
        }
      }
      row[j] = cost_of(s0);
      row[j + 1] = cost_of(s1);
      row[j + 2] = cost_of(s2);
      row[j + 3] = cost_of(s3);
    }
    for (int64_t j = blocked; j < m; ++j) {
      const double* y = &right[j * dim];
      double sum = 0;
      if (metric == 0) {
        for (int64_t k = 0; k < dim; ++k) sum += x[k] * y[k];
      } else {
        for (int64_t k = 0; k < dim; ++k) {
          const double d = x[k] - y[k];
          sum += d * d;
        }
      }
      row[j] = cost_of(sum);
    }
  }
}

void earth_movers_distance_forward(double* out_cost, int64_t* out_pivots, const double* a, const double* b,
                                   const double* costs, int64_t n, int64_t m, int64_t max_pivots) {
  check_sizes("earth_movers_distance_forward", n, m);
  if (!out_cost || !out_pivots || !a || !b || !costs) throw_argument_error("earth_movers_distance_forward: null pointer");
  const int64_t real_arcs = n * m;
  double max_cost = 0;
  for (int64_t e = 0; e < real_arcs; ++e) {
    if (!std::isfinite(costs[e])) {
      throw_argument_error("earth_movers_distance_forward: cost entry " + std::to_string(e) + " is not finite");
    }
    max_cost = std::fmax(max_cost, std::fabs(costs[e]));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (!(a[i] >= 0) || !std::isfinite(a[i])) throw_argument_error("earth_movers_distance_forward: a must be finite and >= 0");
  }
  for (int64_t j = 0; j < m; ++j) {
    if (!(b[j] >= 0) || !std::isfinite(b[j])) throw_argument_error("earth_movers_distance_forward: b must be finite and >= 0");
  }
  // Unequal masses would leave flow on the artificial arcs and a meaningless cost: refuse them.
  double supply = 0, demand = 0;
  for (int64_t i = 0; i < n; ++i) supply += a[i];
  for (int64_t j = 0; j < m; ++j) demand += b[j];
  if (!(supply > 0) || std::fabs(supply - demand) > 1e-9 * std::fmax(supply, demand)) {
    throw_argument_error("earth_movers_distance_forward: a and b must have equal, positive sums (got " +
                         std::to_string(supply) + " and " + std::to_string(demand) + ")");
  }

  const int64_t nodes = n + m + 1;
  const int64_t root = n + m;
  std::vector<double> flow(static_cast<size_t>(real_arcs + nodes), 0.0);
  std::vector<double> potential(static_cast<size_t>(nodes), 0.0);
  std::vector<int32_t> parent(nodes), depth(nodes), first_child(nodes, -1), next_sibling(nodes, -1),
      previous_sibling(nodes, -1), stack(nodes);
  std::vector<int64_t> predecessor_arc(nodes);
  std::vector<int8_t> direction(nodes);
  const double big_cost = (max_cost + 1) * static_cast<double>(nodes);
  const double tolerance = big_cost * 1e-14;

  auto attach = [&](int32_t node, int32_t new_parent) {
    parent[node] = new_parent;
    const int32_t head = first_child[new_parent];
    next_sibling[node] = head;
    previous_sibling[node] = -1;
    if (head != -1) previous_sibling[head] = node;
    first_child[new_parent] = node;
  };
  auto detach = [&](int32_t node) {
    const int32_t previous = previous_sibling[node], next = next_sibling[node];
    if (previous != -1) next_sibling[previous] = next;
    else first_child[parent[node]] = next;
    if (next != -1) previous_sibling[next] = previous;
    next_sibling[node] = previous_sibling[node] = -1;
  };

  parent[root] = -1;
  depth[root] = 0;
  for (int64_t i = 0; i < n; ++i) {
    attach(static_cast<int32_t>(i), static_cast<int32_t>(root));
    predecessor_arc[i] = real_arcs + i;
    direction[i] = kUp;
    flow[real_arcs + i] = a[i];
    depth[i] = 1;
  }
  for (int64_t j = 0; j < m; ++j) {
    const int64_t node = n + j;
    attach(static_cast<int32_t>(node), static_cast<int32_t>(root));
    predecessor_arc[node] = real_arcs + node;
    depth[node] = 1;
    if (b[j] > 0) {
      direction[node] = kDown;
      flow[real_arcs + node] = b[j];
      potential[node] = big_cost;
    } else {
      direction[node] = kUp;  // keeps the start strongly feasible
    }
  }

  const int64_t block_size = std::max<int64_t>(10, static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(real_arcs)))));
  const double* sink_potential = potential.data() + n;
  int64_t search_row = 0, search_column = 0, pivots = 0;

  for (;;) {
    // 1. Block-search pricing: c_ij − π_j < best − π_i, row by row.
    int64_t entering = -1;
    double minimum = -tolerance;
    int64_t remaining = real_arcs, row = search_row, column = search_column;
    while (remaining > 0) {
      int64_t block_left = std::min(block_size, remaining);
      remaining -= block_left;
      while (block_left > 0) {
        const int64_t span = std::min(m - column, block_left);
        const int64_t end = column + span;
        const double pi_row = potential[row];
        const double* cost_row = costs + row * m;
        double threshold = minimum - pi_row;
        int64_t best = -1;
        for (int64_t j = column; j < end; ++j) {
          const double value = cost_row[j] - sink_potential[j];
          if (value < threshold) {
            threshold = value;
            best = j;
          }
        }
        if (best != -1) {
          entering = row * m + best;
          minimum = threshold + pi_row;
        }
        block_left -= span;
        column = end;
        if (column == m) {
          column = 0;
          row = row + 1 == n ? 0 : row + 1;
        }
      }
      if (entering != -1) break;
    }
    if (entering == -1) break;  // optimal
    search_row = row;
    search_column = column;
    if (++pivots > max_pivots) {
      throw_argument_error("earth_movers_distance_forward: no optimum after " + std::to_string(max_pivots) + " pivots");
    }

    // 2. The cycle through the join of both ends of the entering arc.
    const int32_t first = static_cast<int32_t>(entering / m);
    const int32_t second = static_cast<int32_t>(n + (entering - static_cast<int64_t>(first) * m));
    int32_t u = first, v = second;
    while (depth[u] > depth[v]) u = parent[u];
    while (depth[v] > depth[u]) v = parent[v];
    while (u != v) {
      u = parent[u];
      v = parent[v];
    }
    const int32_t join = u;

    // 3. Leaving arc: the last blocking arc in the direction of the pushed flow.
    double delta = std::numeric_limits<double>::infinity();
    int32_t leaving = -1;
    int side = 0;
    for (int32_t w = first; w != join; w = parent[w]) {
      if (direction[w] == kUp && flow[predecessor_arc[w]] < delta) {
        delta = flow[predecessor_arc[w]];
        leaving = w;
        side = 1;
      }
    }
    for (int32_t w = second; w != join; w = parent[w]) {
      if (direction[w] == kDown && flow[predecessor_arc[w]] <= delta) {
        delta = flow[predecessor_arc[w]];
        leaving = w;
        side = 2;
      }
    }
    if (leaving == -1) throw PillowError(kErrorInternal, "earth_movers_distance_forward: unbounded cycle");

    // 4a. Push delta around the cycle.
    if (delta > 0) {
      flow[entering] += delta;
      for (int32_t w = first; w != join; w = parent[w]) flow[predecessor_arc[w]] -= direction[w] * delta;
      for (int32_t w = second; w != join; w = parent[w]) flow[predecessor_arc[w]] += direction[w] * delta;
    }

    // 4b. Re-hang the cut subtree on the entering arc, reversing the path up to the leaving node.
    const int32_t inner = side == 1 ? first : second;
    const int32_t outer = side == 1 ? second : first;
    int64_t carried_arc = entering;
    int8_t carried_direction = side == 1 ? kUp : kDown;
    int32_t new_parent = outer;
    int32_t w = inner;
    for (;;) {
      const int32_t old_parent = parent[w];
      const int64_t old_arc = predecessor_arc[w];
      const int8_t old_direction = direction[w];
      detach(w);
      attach(w, new_parent);
      predecessor_arc[w] = carried_arc;
      direction[w] = carried_direction;
      if (w == leaving) break;
      carried_arc = old_arc;
      carried_direction = static_cast<int8_t>(-old_direction);
      new_parent = w;
      w = old_parent;
    }

    // 4c. Shift the subtree's potentials so the entering arc's reduced cost is zero; fix depths.
    const double shift = side == 1 ? -minimum : minimum;
    int32_t top = 0;
    stack[top++] = inner;
    while (top > 0) {
      const int32_t node = stack[--top];
      potential[node] += shift;
      depth[node] = depth[parent[node]] + 1;
      for (int32_t child = first_child[node]; child != -1; child = next_sibling[child]) stack[top++] = child;
    }
  }

  double total = 0;
  for (int64_t node = 0; node < root; ++node) {
    const int64_t arc = predecessor_arc[node];
    if (arc < real_arcs && flow[arc] > 0) total += flow[arc] * costs[arc];
  }
  *out_cost = total;
  *out_pivots = pivots;
}

}  // namespace pillow
