// Crash and resume: LoRA training in a child process is killed with SIGKILL at a random step, then
// resumed from its checkpoint directory. Nothing may be corrupt (checkpoints are written atomically),
// at most one checkpoint interval may be lost, and the resumed loss curve must equal the
// uninterrupted run's (same seed) within 1e-6.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { createTinyModel } from "@pillow/core";
import { afterAll, describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);
const coreEntry = pathToFileURL(
  path.join(path.dirname(require.resolve("@pillow/core/package.json")), "dist", "index.js"),
).href;
const root = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-crash-resume-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const modelDir = path.join(root, "model");
createTinyModel(modelDir, { hiddenSize: 32, numLayers: 2, numHeads: 4, numKeyValueHeads: 2, seed: 3 });
const totalSteps = 24;
const checkpointEvery = 3;

// The child: one LoRA run, printing `STEP n loss` after every optimizer step.
const childScript = `
const { loadModel, train } = await import(${JSON.stringify(coreEntry)});
const [modelDir, checkpointDir, resume] = process.argv.slice(1);
const model = await loadModel(modelDir, { threads: 1 });
model.addAdapter("run", { r: 4, alpha: 8, targetModules: ["q_proj", "v_proj", "down_proj"], seed: 11 });
model.setActiveAdapter("run");
const words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];
const dataset = words.map((w, i) => ({ prompt: "Spell " + w + ":", response: " " + w.split("").join("-") + " " + i }));
const result = await train(model, dataset, {
  mode: "lora", epochs: 3, lr: 5e-3, batchSize: 1, seed: 7, schedule: "cosine", warmup: 2,
  checkpointDir: checkpointDir === "-" ? undefined : checkpointDir, checkpointEvery: ${checkpointEvery},
  resume: resume === "resume",
  onStep: (info) => { process.stdout.write("STEP " + info.step + " " + info.loss.toPrecision(17) + "\\n"); },
});
process.stdout.write("DONE " + result.steps + " " + (result.resumedFrom ?? -1) + "\\n");
`;

type Run = {
  steps: Map<number, number>;
  done: { steps: number; resumedFrom: number } | null;
  code: number | null;
  signal: string | null;
  stderr: string;
};

function runChild(checkpointDir: string, resume: boolean, killAfterStep?: number): Promise<Run> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(
      process.execPath,
      ["--input-type=module", "-e", childScript, modelDir, checkpointDir, resume ? "resume" : "fresh"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const run: Run = { steps: new Map(), done: null, code: null, signal: null, stderr: "" };
    let buffer = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        const [kind, a, b] = line.split(" ");
        if (kind === "STEP") {
          run.steps.set(Number(a), Number(b));
          if (killAfterStep !== undefined && Number(a) === killAfterStep) child.kill("SIGKILL");
        } else if (kind === "DONE") {
          run.done = { steps: Number(a), resumedFrom: Number(b) };
        }
        newline = buffer.indexOf("\n");
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      run.stderr += chunk.toString("utf8");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000); // never hang the suite
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      run.code = code;
      run.signal = signal;
      resolve(run);
    });
  });
}

describe("training survives kill -9", () => {
  it("resumes from the last atomic checkpoint and continues the same loss curve", async () => {
    const reference = await runChild("-", false);
    expect(reference.code, reference.stderr).toBe(0);
    expect(reference.done?.steps).toBe(totalSteps);

    // A kill point drawn at random (logged so a failure can be replayed), past the first checkpoint.
    const killAfter = checkpointEvery + 1 + Math.floor(Math.random() * (totalSteps - checkpointEvery - 2));
    console.log(`crash-resume: SIGKILL after step ${killAfter} of ${totalSteps}`);
    const checkpointDir = path.join(root, `checkpoints-${killAfter}`);
    const crashed = await runChild(checkpointDir, false, killAfter);
    expect(crashed.signal).toBe("SIGKILL");
    expect(crashed.done).toBeNull();

    // Nothing corrupt: the pointer parses and names a complete checkpoint; no temp files are read.
    const latest = JSON.parse(fs.readFileSync(path.join(checkpointDir, "latest.json"), "utf8"));
    expect(fs.existsSync(path.join(checkpointDir, latest.checkpoint))).toBe(true);
    const lastReachedStep = Math.max(...crashed.steps.keys());
    expect(lastReachedStep).toBeGreaterThanOrEqual(killAfter);

    const resumed = await runChild(checkpointDir, true);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.done?.steps).toBe(totalSteps);
    const resumedFrom = resumed.done?.resumedFrom ?? -1;
    // At most one checkpoint interval lost.
    expect(resumedFrom).toBeGreaterThanOrEqual(lastReachedStep - checkpointEvery);
    expect(resumedFrom % checkpointEvery).toBe(0);
    console.log(`crash-resume: resumed from step ${resumedFrom}, ${lastReachedStep - resumedFrom} step(s) redone`);

    // The resumed curve equals the uninterrupted one.
    let worst = 0;
    for (let step = resumedFrom + 1; step <= totalSteps; step++) {
      const expected = reference.steps.get(step);
      const actual = resumed.steps.get(step);
      expect(actual, `step ${step}`).toBeDefined();
      worst = Math.max(worst, Math.abs((actual as number) - (expected as number)));
    }
    // And the steps the crashed run did finish agree too (same seed, same schedule).
    for (const [step, loss] of crashed.steps)
      worst = Math.max(worst, Math.abs(loss - (reference.steps.get(step) as number)));
    console.log(`crash-resume: largest loss difference vs the uninterrupted run ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-6);
  });
});
