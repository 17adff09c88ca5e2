// Where forgetting comes from, read off a suite-experiment results.json: for every stage i and every
// earlier task j, the drop R[i-1][j] − R[i][j] that training on task i caused, split by whether the two
// tasks share an input family (@pillow/suite's `family`). InsCL replays more of the tasks whose
// instructions are more distant from the current one; this shows whether, on a given run, the
// forgetting falls on the distant tasks (InsCL's premise) or on the near ones.
//
//   node packages/replay/scripts/family-interference.mjs RESULTS_JSON|COMPARE_DIR [...]
//
// A COMPARE_DIR is the --out of `pillow continual compare`: every run in its runs/ is read (scores not
// evaluated there, null, are skipped). For interference it also prints the mean look-ahead increase
// of the probe loss on same-family and other-family tasks.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { buildSuite } from "@pillow/suite";

const inputs = process.argv.slice(2);
if (inputs.length === 0) throw new Error("usage: family-interference.mjs RESULTS_JSON|COMPARE_DIR [...]");
// Each input as { file, tasks, results: { strategy: { scores, plans } } }; a compare run is one of them.
const datasets = inputs.flatMap((input) => {
  if (!statSync(input).isDirectory()) return [{ file: input, ...JSON.parse(readFileSync(input, "utf8")) }];
  const runs = path.join(input, "runs");
  return readdirSync(runs)
    .filter((name) => name.endsWith(".json"))
    .map((name) => {
      const run = JSON.parse(readFileSync(path.join(runs, name), "utf8"));
      return { file: path.join(runs, name), tasks: run.tasks, results: { [run.strategy]: run } };
    });
});
const familyOf = new Map(buildSuite({ trainPerTask: 1, testPerTask: 1 }).tasks.map((task) => [task.name, task.family]));
const groups = new Map();
for (const data of datasets) {
  const file = data.file;
  for (const name of data.tasks) {
    if (!familyOf.has(name)) throw new Error(`${file}: task "${name}" is not a suite task`);
  }
  for (const [strategy, result] of Object.entries(data.results)) {
    const scores = result.scores;
    const entry = groups.get(strategy) ?? {
      same: [],
      other: [],
      replayed: 0,
      budget: 0,
      uniformShare: [],
      distance: { same: [], other: [] },
      increase: { same: [], other: [] },
    };
    for (let i = 1; i < data.tasks.length; i++) {
      for (let j = 0; j < i; j++) {
        if (scores[i - 1][j] === null || scores[i][j] === null) continue;
        const drop = scores[i - 1][j] - scores[i][j];
        entry[familyOf.get(data.tasks[i]) === familyOf.get(data.tasks[j]) ? "same" : "other"].push(drop);
      }
    }
    // The replay each stage gave to the current task's family, against what an equal split would give.
    for (const plan of result.plans ?? []) {
      if (plan.stage === 0) continue;
      const family = familyOf.get(plan.task);
      const sameFamily = plan.perTask.filter((share) => familyOf.get(share.task) === family);
      entry.replayed += sameFamily.reduce((sum, share) => sum + share.count, 0);
      entry.budget += plan.budget;
      entry.uniformShare.push(sameFamily.length / plan.stage);
      for (const share of plan.perTask) {
        if (share.distance !== undefined)
          entry.distance[familyOf.get(share.task) === family ? "same" : "other"].push(share.distance);
        if (share.increase !== undefined)
          entry.increase[familyOf.get(share.task) === family ? "same" : "other"].push(share.increase);
      }
    }
    groups.set(strategy, entry);
  }
}
const mean = (values) => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
const percent = (value) => `${(100 * value).toFixed(1)} %`;
console.log(
  "| strategy | drop per stage, same family (pairs) | drop, other family (pairs) | replay to the same family (equal split) | mean W same / other family | look-ahead increase same / other family |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const [strategy, entry] of groups) {
  const replay =
    entry.budget > 0 ? `${percent(entry.replayed / entry.budget)} (${percent(mean(entry.uniformShare))})` : "-";
  const distance =
    entry.distance.same.length > 0
      ? `${mean(entry.distance.same).toFixed(3)} / ${mean(entry.distance.other).toFixed(3)}`
      : "-";
  const increase =
    entry.increase.same.length > 0
      ? `${mean(entry.increase.same).toFixed(3)} / ${mean(entry.increase.other).toFixed(3)}`
      : "-";
  console.log(
    `| ${strategy} | ${mean(entry.same).toFixed(2)} (${entry.same.length}) | ${mean(entry.other).toFixed(2)} (${entry.other.length}) | ${replay} | ${distance} | ${increase} |`,
  );
}
