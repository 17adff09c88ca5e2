// The one tsup setup every package builds with: ESM for Node 20, declarations for the public
// entry (src/index.ts), source maps. Packages add entries (a bin) or turn declarations off.
import { defineConfig, type Options } from "tsup";

export function packageBuildConfig(options: { entry?: string[]; declarations?: boolean; external?: string[] } = {}) {
  const config: Options = {
    entry: options.entry ?? ["src/index.ts"],
    format: ["esm"],
    dts: options.declarations === false ? false : { entry: "src/index.ts" },
    sourcemap: true,
    clean: true,
    target: "node20",
    // devDependencies are bundled unless listed here (e.g. a peer with native binaries).
    external: options.external,
  };
  return defineConfig(config);
}
