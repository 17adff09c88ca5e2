import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { backendInfo, candidateAddonPaths, setThreads } from "./index.js";

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

describe("loader", () => {
  it("loads the local build and reports the backend", () => {
    const info = backendInfo();
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(["avx512", "avx2", "portable"]).toContain(info.cpu.isa);
    expect(info.cpu.threads).toBeGreaterThanOrEqual(1);
    // The ISA chosen must be one the CPU reports.
    if (info.cpu.isa === "avx512") expect(info.cpu.features.avx512f).toBe(true);
    if (info.cpu.isa === "avx2") expect(info.cpu.features.avx2 && info.cpu.features.fma).toBe(true);
    expect(typeof info.cuda.compiled).toBe("boolean");
    if (!fs.existsSync("/dev/nvidia0")) expect(info.cuda.devices).toBe(0);
  });

  it("setThreads resizes the pool", () => {
    const before = backendInfo().cpu.threads;
    expect(setThreads(1)).toBe(1);
    expect(backendInfo().cpu.threads).toBe(1);
    expect(setThreads(before)).toBe(before);
    expect(() => setThreads(0)).toThrowError(expect.objectContaining({ code: "E_ARGUMENT" }));
  });

  it("throws NativeAddonNotFoundError naming every path tried and the build command when the addon is gone", () => {
    // Copy the built package somewhere the local build is not reachable: that is what a moved-away
    // build looks like to the loader.
    const dist = path.join(packageDir, "dist");
    expect(fs.existsSync(path.join(dist, "index.js")), "run the package build first").toBe(true);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-loader-"));
    const copy = path.join(root, "a", "b", "lora-kernels");
    fs.cpSync(dist, path.join(copy, "dist"), { recursive: true });
    fs.writeFileSync(path.join(copy, "package.json"), JSON.stringify({ type: "module" }));
    const script = `
      const k = await import(${JSON.stringify(path.join(copy, "dist", "index.js"))});
      try { k.backendInfo(); console.log("LOADED"); }
      catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, attempts: e.attempts, message: e.message })); }`;
    const env = { ...process.env };
    delete env.PILLOW_NATIVE_PATH;
    delete env.NODE_PATH; // pnpm's bin shims put the workspace on NODE_PATH
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { env, encoding: "utf8" });
    fs.rmSync(root, { recursive: true, force: true });
    expect(result.status, result.stderr + result.stdout).toBe(0);
    const error = JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "");
    expect(error.name).toBe("NativeAddonNotFoundError");
    expect(error.code).toBe("E_NATIVE_NOT_FOUND");
    expect(error.attempts.length).toBeGreaterThanOrEqual(4);
    expect(error.attempts.map((attempt: { path: string }) => attempt.path)).toContain(
      `@pillow/native-${process.platform}-${process.arch}/pillow_native.node`,
    );
    for (const attempt of error.attempts) {
      expect(attempt.path).toMatch(/pillow_native\.node$/);
      expect(error.message).toContain(attempt.path);
      expect(["no such file", "package not installed"]).toContain(attempt.reason);
    }
    expect(error.message).toContain("npx @pillow/lora-kernels build");
  });

  it("honours PILLOW_NATIVE_PATH and explains a bad override", () => {
    const bogus = path.join(os.tmpdir(), "definitely-not-here", "pillow_native.node");
    const script = `
      const k = await import(${JSON.stringify(path.join(packageDir, "dist", "index.js"))});
      console.log(JSON.stringify(k.candidateAddonPaths()));
      try { k.backendInfo(); console.log("LOADED"); } catch (e) { console.log(e.name + ": " + e.attempts[0].reason); }`;
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, PILLOW_NATIVE_PATH: bogus },
      encoding: "utf8",
    });
    const [paths, outcome] = result.stdout.trim().split("\n");
    expect(JSON.parse(paths)).toEqual([bogus]);
    expect(outcome).toBe("NativeAddonNotFoundError: no such file");
    expect(candidateAddonPaths().length).toBeGreaterThanOrEqual(1);
  });
});

describe("loader with a prebuilt platform package", () => {
  it("falls back to @pillow/native-<platform>-<arch> when no local build is reachable", () => {
    const built = path.resolve(packageDir, "..", "..", "native", "build", "Release", "pillow_native.node");
    expect(fs.existsSync(built), "build the addon first").toBe(true);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-platform-"));
    const kernels = path.join(root, "node_modules", "@pillow", "lora-kernels");
    fs.cpSync(path.join(packageDir, "dist"), path.join(kernels, "dist"), { recursive: true });
    fs.copyFileSync(path.join(packageDir, "package.json"), path.join(kernels, "package.json"));
    const platformPackage = path.join(root, "node_modules", "@pillow", `native-${process.platform}-${process.arch}`);
    fs.mkdirSync(platformPackage, { recursive: true });
    fs.writeFileSync(path.join(platformPackage, "package.json"), JSON.stringify({ name: "x", version: "0.0.0" }));
    fs.copyFileSync(built, path.join(platformPackage, "pillow_native.node"));
    const script = `
      const k = await import(${JSON.stringify(path.join(kernels, "dist", "index.js"))});
      const info = k.backendInfo();
      console.log(JSON.stringify({ version: info.version, y: Array.from(k.matmul(new Float32Array([1, 2]), new Float32Array([3, 4]), { tokens: 1, inFeatures: 2, outFeatures: 1 })) }));`;
    const env = { ...process.env };
    delete env.PILLOW_NATIVE_PATH;
    delete env.NODE_PATH;
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      env,
      encoding: "utf8",
      cwd: root,
    });
    fs.rmSync(root, { recursive: true, force: true });
    expect(result.status, result.stderr).toBe(0);
    const output = JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "");
    expect(output.y).toEqual([11]);
    expect(output.version).toBe(JSON.parse(fs.readFileSync(path.join(packageDir, "package.json"), "utf8")).version);
  });
});
