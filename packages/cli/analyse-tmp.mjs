import { readFileSync } from "node:fs";
import { buildSuite } from "@pillow/suite";
const fam = new Map(buildSuite({ seed: 0, trainPerTask: 1, testPerTask: 1 }).tasks.map((t) => [t.name, t.family]));
for (const line of readFileSync(process.argv[2], "utf8").trim().split("\n")) {
  const d = JSON.parse(line);
  const T = d.tasks.length - 1;
  let same = 0, total = 0;
  const rows = [];
  d.plans.forEach((p, i) => {
    let s = 0;
    for (const e of p.perTask) { total += e.count; if (fam.get(e.task) === fam.get(d.tasks[i])) { same += e.count; s += e.count; } }
    rows.push(`${i}:${d.tasks[i].slice(0,8)} diag ${d.scores[i][i].toFixed(0)} fin ${d.scores[T][i].toFixed(0)} sameRep ${s}/${p.budget}` + (d.lookAheads[i] ? ` inc ${d.lookAheads[i].after.map((a, j) => (a - d.lookAheads[i].before[j]).toFixed(2)).join(",")}` : ""));
  });
  console.log(d.variant, "same-family share", (same / total).toFixed(3));
  console.log(rows.join("\n"));
}
