import { packageBuildConfig } from "../../tsup.shared";

// node-llama-cpp (the llama.cpp peer) loads its prebuilt binaries at run time: never bundle it.
// serve-client is its own entry: `pnpm bench serve` forks it as the client process.
export default packageBuildConfig({
  entry: ["src/index.ts", "src/serve-client.ts"],
  declarations: false,
  external: ["node-llama-cpp", "openai"],
});
