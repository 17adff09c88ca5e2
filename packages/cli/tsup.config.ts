import { packageBuildConfig } from "../../tsup.shared";

export default packageBuildConfig({ entry: ["src/index.ts", "src/bin.ts"] });
