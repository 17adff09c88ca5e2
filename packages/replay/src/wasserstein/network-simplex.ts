// Exact optimal transport (the transportation problem) by the primal network simplex method.
//
// The bipartite graph has n source nodes (supplies a), m sink nodes (demands b), one artificial root,
// n·m real arcs i → j with cost C[i·m + j] and unbounded capacity, and one artificial arc per node
// joining it to the root. The basis is a spanning tree kept as parent pointers plus doubly linked child
// lists; node potentials make every tree arc's reduced cost zero. Each pivot:
//   1. block search (pricing): scan the next block of real arcs for the most negative reduced cost
//      c_ij + π_i − π_j, wrapping around, stopping at the first block that holds a negative one;
//   2. walk both ends of the entering arc up to their join to find the cycle;
//   3. leaving arc by the strongly-feasible-tree rule (the last blocking arc met when the cycle is
//      walked in the direction of the pushed flow) — with the start below this rules out cycling;
//   4. push the flow, cut the leaving arc, re-hang the cut subtree on the entering arc (reversing the
//      parent path), and shift that subtree's potentials by one constant.
// The start is the artificial star: sources send their supply to the root at cost 0, the root feeds
// each sink at a cost larger than any real path, so every real arc starts eligible. This start is
// strongly feasible (every zero-flow tree arc can still carry flow towards the root).
//
// Everything is in typed arrays: the reduced-cost scan is the hot loop and walks C row by row.

import { ReplayError } from "../errors.js";

const DIRECTION_UP = 1; // the tree arc points from the node to its parent
const DIRECTION_DOWN = -1; // the tree arc points from the parent to the node

export type TransportResult = {
  /** Σ flow_ij · C_ij over the real arcs. */
  cost: number;
  /** Number of simplex pivots performed. */
  pivots: number;
  /** Sparse optimal plan: the real tree arcs with positive flow. */
  plan: { source: Int32Array; target: Int32Array; mass: Float64Array };
};

export type NetworkSimplexOptions = {
  /** Abort with an error after this many pivots (default 100·(n+m)·max(n,m), generous). */
  maxPivots?: number;
};

/**
 * Solves min Σ C_ij x_ij subject to Σ_j x_ij = a_i, Σ_i x_ij = b_j, x ≥ 0.
 * a and b must be non-negative with equal sums (the caller normalises them).
 */
export function solveTransport(
  a: Float64Array,
  b: Float64Array,
  costs: Float64Array,
  options: NetworkSimplexOptions = {},
): TransportResult {
  const n = a.length;
  const m = b.length;
  if (costs.length !== n * m) {
    throw new RangeError(
      `solveTransport: costs (the cost matrix) has ${costs.length} entries, expected ${n}·${m} = ${n * m}`,
    );
  }
  let supply = 0;
  let demand = 0;
  for (let i = 0; i < n; i++) {
    if (!(a[i] >= 0) || a[i] === Infinity)
      throw new RangeError(`solveTransport: a[${i}] is ${a[i]}; masses must be finite and ≥ 0`);
    supply += a[i];
  }
  for (let j = 0; j < m; j++) {
    if (!(b[j] >= 0) || b[j] === Infinity)
      throw new RangeError(`solveTransport: b[${j}] is ${b[j]}; masses must be finite and ≥ 0`);
    demand += b[j];
  }
  // Unequal masses would leave flow on the artificial arcs and a meaningless cost: refuse them.
  if (!(supply > 0) || Math.abs(supply - demand) > 1e-9 * Math.max(supply, demand)) {
    throw new RangeError(`solveTransport: a and b must have equal, positive sums (got ${supply} and ${demand})`);
  }
  const nodeCount = n + m + 1;
  const root = n + m;
  const realArcCount = n * m;
  // Artificial arc of node u has id realArcCount + u.
  const flow = new Float64Array(realArcCount + nodeCount);
  const potential = new Float64Array(nodeCount);
  const parent = new Int32Array(nodeCount);
  const predecessorArc = new Int32Array(nodeCount);
  const predecessorDirection = new Int8Array(nodeCount);
  const depth = new Int32Array(nodeCount);
  const firstChild = new Int32Array(nodeCount).fill(-1);
  const nextSibling = new Int32Array(nodeCount).fill(-1);
  const previousSibling = new Int32Array(nodeCount).fill(-1);
  const artificialCost = new Float64Array(nodeCount);

  let maxCost = 0;
  for (let e = 0; e < realArcCount; e++) {
    const c = costs[e];
    if (!Number.isFinite(c)) {
      throw new RangeError(
        `solveTransport: costs: cost matrix entry ${e} (row ${Math.floor(e / m)}, column ${e % m}) is ${c}`,
      );
    }
    const absolute = c < 0 ? -c : c;
    if (absolute > maxCost) maxCost = absolute;
  }
  // Larger than the cost of any path through real arcs, so the artificial arcs are driven out.
  const bigCost = (maxCost + 1) * nodeCount;
  // Reduced costs above −tolerance count as zero: potentials reach ~bigCost, so float round-off in
  // c + π_i − π_j is of order bigCost·ε; without a tolerance, round-off would drive endless
  // degenerate pivots.
  const tolerance = bigCost * 1e-14;

  function attachChild(node: number, newParent: number): void {
    parent[node] = newParent;
    const head = firstChild[newParent];
    nextSibling[node] = head;
    previousSibling[node] = -1;
    if (head !== -1) previousSibling[head] = node;
    firstChild[newParent] = node;
  }
  function detachChild(node: number): void {
    const previous = previousSibling[node];
    const next = nextSibling[node];
    if (previous !== -1) nextSibling[previous] = next;
    else firstChild[parent[node]] = next;
    if (next !== -1) previousSibling[next] = previous;
    nextSibling[node] = -1;
    previousSibling[node] = -1;
  }

  parent[root] = -1;
  predecessorArc[root] = -1;
  depth[root] = 0;
  for (let i = 0; i < n; i++) {
    const arc = realArcCount + i;
    attachChild(i, root);
    predecessorArc[i] = arc;
    predecessorDirection[i] = DIRECTION_UP;
    flow[arc] = a[i];
    artificialCost[i] = 0;
    potential[i] = 0;
    depth[i] = 1;
  }
  for (let j = 0; j < m; j++) {
    const node = n + j;
    const arc = realArcCount + node;
    attachChild(node, root);
    predecessorArc[node] = arc;
    depth[node] = 1;
    if (b[j] > 0) {
      predecessorDirection[node] = DIRECTION_DOWN;
      flow[arc] = b[j];
      artificialCost[node] = bigCost;
      potential[node] = bigCost;
    } else {
      // A zero demand keeps an upward arc of cost 0: the start stays strongly feasible.
      predecessorDirection[node] = DIRECTION_UP;
      flow[arc] = 0;
      artificialCost[node] = 0;
      potential[node] = 0;
    }
  }

  const blockSize = Math.max(10, Math.ceil(Math.sqrt(realArcCount)));
  const maxPivots = options.maxPivots ?? 100 * (n + m) * Math.max(n, m) + 1000;
  const stack = new Int32Array(nodeCount);
  let searchRow = 0;
  let searchColumn = 0;
  // A view of the sink potentials, indexed by column: the pricing loop reads it directly.
  const sinkPotential = potential.subarray(n, n + m);
  let pivots = 0;

  for (;;) {
    // 1. Pricing: block search starting where the previous search stopped. Arcs are scanned row by
    //    row; within a row the test c_ij + π_i − π_j < best is done as c_ij − π_j < best − π_i.
    let enteringArc = -1;
    let minimum = -tolerance;
    let remaining = realArcCount;
    let row = searchRow;
    let column = searchColumn;
    while (remaining > 0) {
      let blockLeft = Math.min(blockSize, remaining);
      remaining -= blockLeft;
      while (blockLeft > 0) {
        const span = Math.min(m - column, blockLeft);
        const end = column + span;
        const piRow = potential[row];
        const rowBase = row * m;
        let threshold = minimum - piRow;
        let best = -1;
        for (let j = column; j < end; j++) {
          const value = costs[rowBase + j] - sinkPotential[j];
          if (value < threshold) {
            threshold = value;
            best = j;
          }
        }
        if (best !== -1) {
          enteringArc = rowBase + best;
          minimum = threshold + piRow;
        }
        blockLeft -= span;
        column = end;
        if (column === m) {
          column = 0;
          row = row + 1 === n ? 0 : row + 1;
        }
      }
      if (enteringArc !== -1) break;
    }
    if (enteringArc === -1) break; // optimal
    searchRow = row;
    searchColumn = column;

    if (++pivots > maxPivots) {
      throw new ReplayError(
        "E_SOLVER",
        `solveTransport: no optimum after ${maxPivots} pivots (n=${n}, m=${m}); the costs may be ill-scaled`,
      );
    }

    // 2. The cycle: flow goes first → second on the entering arc, then up from second to the join
    //    and down from the join to first.
    const first = Math.floor(enteringArc / m);
    const second = n + (enteringArc - first * m);
    let u = first;
    let v = second;
    while (depth[u] > depth[v]) u = parent[u];
    while (depth[v] > depth[u]) v = parent[v];
    while (u !== v) {
      u = parent[u];
      v = parent[v];
    }
    const join = u;

    // 3. Leaving arc. On first's side the pushed flow runs parent → child, so an upward arc loses
    //    flow; on second's side it runs child → parent, so a downward arc loses flow. Ties: strict on
    //    first's side (keep the one nearest first), non-strict on second's side (keep the one nearest
    //    the join) — the last blocking arc in cycle order.
    let delta = Infinity;
    let leavingNode = -1;
    let leavingSide = 0;
    for (let w = first; w !== join; w = parent[w]) {
      if (predecessorDirection[w] === DIRECTION_UP) {
        const d = flow[predecessorArc[w]];
        if (d < delta) {
          delta = d;
          leavingNode = w;
          leavingSide = 1;
        }
      }
    }
    for (let w = second; w !== join; w = parent[w]) {
      if (predecessorDirection[w] === DIRECTION_DOWN) {
        const d = flow[predecessorArc[w]];
        if (d <= delta) {
          delta = d;
          leavingNode = w;
          leavingSide = 2;
        }
      }
    }
    if (leavingNode === -1) {
      throw new ReplayError(
        "E_SOLVER",
        "solveTransport: unbounded cycle (internal error: every arc cost must be finite)",
      );
    }

    // 4a. Push delta around the cycle.
    if (delta > 0) {
      flow[enteringArc] += delta;
      for (let w = first; w !== join; w = parent[w]) {
        flow[predecessorArc[w]] -= predecessorDirection[w] * delta;
      }
      for (let w = second; w !== join; w = parent[w]) {
        flow[predecessorArc[w]] += predecessorDirection[w] * delta;
      }
    }

    // 4b. Re-hang the subtree below the leaving arc. It holds `first` (side 1) or `second` (side 2);
    //     that node becomes a child of the other end of the entering arc, and the path from it up to
    //     the leaving node is reversed.
    const inner = leavingSide === 1 ? first : second;
    const outer = leavingSide === 1 ? second : first;
    // The entering arc runs first → second: seen from `first` it points to its new parent (up).
    let carriedArc = enteringArc;
    let carriedDirection = leavingSide === 1 ? DIRECTION_UP : DIRECTION_DOWN;
    let newParent = outer;
    let w = inner;
    for (;;) {
      const oldParent = parent[w];
      const oldArc = predecessorArc[w];
      const oldDirection = predecessorDirection[w];
      detachChild(w);
      attachChild(w, newParent);
      predecessorArc[w] = carriedArc;
      predecessorDirection[w] = carriedDirection;
      if (w === leavingNode) break;
      // The old arc to w's parent now points from that parent to w: its direction flips.
      carriedArc = oldArc;
      carriedDirection = -oldDirection;
      newParent = w;
      w = oldParent;
    }

    // 4c. Potentials and depths of the re-hung subtree: one constant shift makes the entering arc's
    //     reduced cost zero; the subtree's inner arcs keep theirs.
    const shift = leavingSide === 1 ? -minimum : minimum;
    let top = 0;
    stack[top++] = inner;
    while (top > 0) {
      const node = stack[--top];
      potential[node] += shift;
      depth[node] = depth[parent[node]] + 1;
      for (let child = firstChild[node]; child !== -1; child = nextSibling[child]) stack[top++] = child;
    }
  }

  // The objective and the plan: only tree arcs carry flow.
  let cost = 0;
  let planSize = 0;
  for (let node = 0; node < root; node++) {
    const arc = predecessorArc[node];
    if (arc < realArcCount && flow[arc] > 0) planSize++;
  }
  const source = new Int32Array(planSize);
  const target = new Int32Array(planSize);
  const mass = new Float64Array(planSize);
  let k = 0;
  for (let node = 0; node < root; node++) {
    const arc = predecessorArc[node];
    if (arc < realArcCount && flow[arc] > 0) {
      cost += flow[arc] * costs[arc];
      const i = Math.floor(arc / m);
      source[k] = i;
      target[k] = arc - i * m;
      mass[k] = flow[arc];
      k++;
    }
  }
  return { cost, pivots, plan: { source, target, mass } };
}
