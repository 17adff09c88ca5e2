// Counts of a vitest JSON report, shared by test-all.mjs and test-cuda-emulated.mjs. A test file
// that fails to import counts as a failure even though no test in it ran.
import fs from "node:fs";

/** { passed, failed, problems } of the report in `file`. */
export function countVitestReport(file) {
  const report = JSON.parse(fs.readFileSync(file, "utf8"));
  let failed = report.numFailedTests;
  const problems = [];
  for (const suite of report.testResults ?? []) {
    if (suite.status === "failed" && (suite.assertionResults ?? []).length === 0) {
      failed += 1;
      problems.push(`${suite.name}: ${String(suite.message).split("\n")[0]}`);
    }
  }
  return { passed: report.numPassedTests, failed, problems };
}
