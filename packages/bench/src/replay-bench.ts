// pnpm bench replay: exact earth mover's distance, n = m = 1000, dim 64, cosine cost, uniform weights —
// @pillow/replay's network simplex against POT's ot.emd2 (LEMON network simplex in C++), both run here,
// on the same points, in the same process tree. Python is found as the first of python3,
// /usr/bin/python3 that can `import ot` (Debian's python3-pot).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { earthMoversDistance, pairwiseCost } from "@pillow/lora-kernels";
import { computeCostMatrix, createRandom, nativeSolverAvailable, solveTransport, wasserstein } from "@pillow/replay";

const potScript = `
import json, sys, time
import numpy as np
import ot
path, n, m, dim, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
raw = np.fromfile(path, dtype=np.float32)
a = raw[: n * dim].reshape(n, dim).astype(np.float64)
b = raw[n * dim :].reshape(m, dim).astype(np.float64)
wa = np.full(n, 1.0 / n)
wb = np.full(m, 1.0 / m)
dist, solve = [], []
for _ in range(repeats):
    t0 = time.perf_counter()
    M = ot.dist(a, b, metric="cosine")
    t1 = time.perf_counter()
    value = ot.emd2(wa, wb, M, numItermax=10_000_000)
    t2 = time.perf_counter()
    dist.append(t1 - t0)
    solve.append(t2 - t1)
print(json.dumps({"value": float(value), "dist": min(dist), "emd2": min(solve), "version": ot.__version__}))
`;

function findPython(): string | undefined {
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    const probe = spawnSync(candidate, ["-c", "import ot"], { encoding: "utf8" });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

function minimumOf(repeats: number, run: () => void): number {
  let best = Infinity;
  for (let k = 0; k < repeats; k++) {
    const start = performance.now();
    run();
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  return best;
}

export async function replayBenchmark(): Promise<void> {
  const n = 1000;
  const m = 1000;
  const dim = 64;
  const repeats = 5;
  const random = createRandom(2024);
  // Gaussian points (Box–Muller): cosine costs spread like those of real sentence embeddings.
  const gaussian = (count: number) =>
    Float32Array.from(
      { length: count },
      () => Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next()),
    );
  const a = { data: gaussian(n * dim), n, dim };
  const b = { data: gaussian(m * dim), n: m, dim };
  const uniformA = new Float64Array(n).fill(1 / n);
  const uniformB = new Float64Array(m).fill(1 / m);

  if (!nativeSolverAvailable())
    throw new Error("the native addon with earthMoversDistance is not built: run pnpm build");
  // Warm-up (JIT), then the best of `repeats` for each part and for the whole call.
  const value = wasserstein(a, b, { solver: "native" });
  const typescriptValue = wasserstein(a, b, { solver: "typescript" });
  const costs = computeCostMatrix(a, b, "cosine");
  const shape = { n, m, dim };
  const nativeCostTime = minimumOf(repeats, () => pairwiseCost(a.data, b.data, shape, "cosine"));
  let nativePivots = 0;
  const nativeSolveTime = minimumOf(repeats, () => {
    nativePivots = earthMoversDistance(uniformA, uniformB, costs).pivots;
  });
  const nativeTotalTime = minimumOf(repeats, () => wasserstein(a, b, { solver: "native" }));
  const costTime = minimumOf(repeats, () => computeCostMatrix(a, b, "cosine"));
  let pivots = 0;
  const solveTime = minimumOf(repeats, () => {
    pivots = solveTransport(uniformA, uniformB, costs).pivots;
  });
  const totalTime = minimumOf(repeats, () => wasserstein(a, b, { solver: "typescript" }));

  const ms = (seconds: number) => `${(seconds * 1000).toFixed(1)} ms`;
  console.log(`replay: exact EMD, n = m = ${n}, dim ${dim}, cosine, uniform weights (best of ${repeats})`);
  console.log(
    `  pillow native      cost matrix ${ms(nativeCostTime)}, network simplex ${ms(nativeSolveTime)} (${nativePivots} pivots), wasserstein() ${ms(nativeTotalTime)}, value ${value.toFixed(9)}`,
  );
  console.log(
    `  pillow TypeScript  cost matrix ${ms(costTime)}, network simplex ${ms(solveTime)} (${pivots} pivots), wasserstein() ${ms(totalTime)}, value ${typescriptValue.toFixed(9)}`,
  );

  const python = findPython();
  if (!python) {
    console.log("  POT: not available (install Debian's python3-pot); no ratio reported");
    return;
  }
  const directory = mkdtempSync(path.join(tmpdir(), "pillow-bench-replay-"));
  try {
    const file = path.join(directory, "points.f32");
    const both = new Float32Array(a.data.length + b.data.length);
    both.set(a.data, 0);
    both.set(b.data, a.data.length);
    writeFileSync(file, Buffer.from(both.buffer));
    const run = spawnSync(python, ["-c", potScript, file, String(n), String(m), String(dim), String(repeats)], {
      encoding: "utf8",
    });
    if (run.status !== 0) throw new Error(`POT benchmark failed: ${run.stderr}`);
    const pot = JSON.parse(run.stdout.trim().split("\n").pop()!) as {
      value: number;
      dist: number;
      emd2: number;
      version: string;
    };
    console.log(
      `  POT ${pot.version}  ot.dist ${(pot.dist * 1000).toFixed(1)} ms, ot.emd2 ${(pot.emd2 * 1000).toFixed(1)} ms, total ${((pot.dist + pot.emd2) * 1000).toFixed(1)} ms, value ${pot.value.toFixed(9)}`,
    );
    console.log(
      `  |Δ value| vs POT: native ${Math.abs(pot.value - value).toExponential(2)}, TypeScript ${Math.abs(pot.value - typescriptValue).toExponential(2)}`,
    );
    console.log("  ratio (pillow time / POT time; ≤ 1.0 means pillow is at least as fast):");
    console.log(
      `    native      solver  network simplex / ot.emd2          ${(nativeSolveTime / pot.emd2).toFixed(2)}×`,
    );
    console.log(
      `    native      whole   wasserstein() / (ot.dist + emd2)   ${(nativeTotalTime / (pot.dist + pot.emd2)).toFixed(2)}×`,
    );
    console.log(`    TypeScript  solver  network simplex / ot.emd2          ${(solveTime / pot.emd2).toFixed(2)}×`);
    console.log(
      `    TypeScript  whole   wasserstein() / (ot.dist + emd2)   ${(totalTime / (pot.dist + pot.emd2)).toFixed(2)}×`,
    );
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
