import { packageBuildConfig } from "../../tsup.shared";

// node-llama-cpp (the llama.cpp peer) loads its prebuilt binaries at run time: never bundle it.
export default packageBuildConfig({ declarations: false, external: ["node-llama-cpp"] });
