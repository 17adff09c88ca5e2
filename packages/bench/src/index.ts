// pnpm bench [suite]: runs the benchmark suites against their peers. Filled in by the kernel,
// core and replay issues; each suite prints a table of ratios measured in the same run.
import { runCoreBench } from "./core.js";
import { kernelsSuite } from "./kernels.js";
import { quantizedBenchmark } from "./quantized-bench.js";
import { replayBenchmark } from "./replay-bench.js";
import { serveBenchmark } from "./serve-bench.js";

const suites: Record<string, () => Promise<void>> = {
  core: runCoreBench,
  kernels: kernelsSuite,
  quantized: quantizedBenchmark,
  replay: replayBenchmark,
  serve: serveBenchmark,
};

const requested = process.argv.slice(2);
const names = requested.length > 0 ? requested : Object.keys(suites);
for (const name of names) {
  const suite = suites[name];
  if (!suite) {
    console.error(`unknown benchmark suite "${name}"; known: ${Object.keys(suites).join(", ") || "(none yet)"}`);
    process.exit(2);
  }
  await suite();
}
