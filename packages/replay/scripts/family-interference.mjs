// Where forgetting comes from, read off a suite-experiment results.json: for every stage i and every
// earlier task j, the drop R[i-1][j] − R[i][j] that training on task i caused, split by whether the two
// tasks share an input family (@pillow/suite's `family`). InsCL replays more of the tasks whose
// instructions are more distant from the current one; this shows whether, on a given run, the
// forgetting falls on the distant tasks (InsCL's premise) or on the near ones.
//
//   node packages/replay/scripts/family-interference.mjs RESULTS_JSON [RESULTS_JSON...]
import { readFileSync } from "node:fs";
import { buildSuite } from "@pillow/suite";

const files = process.argv.slice(2);
if (files.length === 0) throw new Error("usage: family-interference.mjs RESULTS_JSON [RESULTS_JSON...]");
const familyOf = new Map(buildSuite({ trainPerTask: 1, testPerTask: 1 }).tasks.map((task) => [task.name, task.family]));
const groups = new Map();
for (const file of files) {
  const data = JSON.parse(readFileSync(file, "utf8"));
  for (const name of data.tasks) {
    if (!familyOf.has(name)) throw new Error(`${file}: task "${name}" is not a suite task`);
  }
  for (const [strategy, result] of Object.entries(data.results)) {
    const scores = result.scores;
    const entry = groups.get(strategy) ?? { same: [], other: [], replayed: 0, budget: 0, uniformShare: [], distance: { same: [], other: [] } };
    for (let i = 1; i < data.tasks.length; i++) {
      for (let j = 0; j < i; j++) {
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
        if (share.distance !== undefined) entry.distance[familyOf.get(share.task) === family ? "same" : "other"].push(share.distance);
      }
    }
    groups.set(strategy, entry);
  }
}
const mean = (values) => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
const percent = (value) => `${(100 * value).toFixed(1)} %`;
console.log("| strategy | drop per stage, same family (pairs) | drop, other family (pairs) | replay to the same family (equal split) | mean W same / other family |");
console.log("| --- | --- | --- | --- | --- |");
for (const [strategy, entry] of groups) {
  const replay = entry.budget > 0 ? `${percent(entry.replayed / entry.budget)} (${percent(mean(entry.uniformShare))})` : "-";
  const distance = entry.distance.same.length > 0 ? `${mean(entry.distance.same).toFixed(3)} / ${mean(entry.distance.other).toFixed(3)}` : "-";
  console.log(`| ${strategy} | ${mean(entry.same).toFixed(2)} (${entry.same.length}) | ${mean(entry.other).toFixed(2)} (${entry.other.length}) | ${replay} | ${distance} |`);
}
