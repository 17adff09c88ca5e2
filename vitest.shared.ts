// Shared vitest settings for every package. When PILLOW_TEST_REPORT_DIR is set (scripts/test-all.mjs
// sets it), each package also writes a JSON report there so the totals can be summed.
import path from "node:path";
import { defineConfig } from "vitest/config";

export function packageTestConfig(packageName: string) {
  const reportDir = process.env.PILLOW_TEST_REPORT_DIR;
  return defineConfig({
    test: {
      include: ["src/**/*.test.ts"],
      testTimeout: 300_000,
      hookTimeout: 300_000,
      reporters: reportDir ? ["default", "json"] : ["default"],
      outputFile: reportDir ? { json: path.join(reportDir, `${packageName}.json`) } : undefined,
    },
  });
}
