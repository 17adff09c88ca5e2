import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  dts: false, // private: nothing imports its types
  sourcemap: true,
  clean: true,
  target: "node20",
});
