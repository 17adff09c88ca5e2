export type { AddonTypes, BackendInfo, CpuIsa, MatmulShape, NativeErrorCode } from "./AddonTypes.js";
export { BUILD_COMMAND, KernelError, type LoadAttempt, NativeAddonNotFoundError } from "./errors.js";
export { backendInfo, matmul, matmulAsync, setThreads } from "./kernels.js";
export { candidateAddonPaths, loadAddon } from "./loader.js";
export { referenceMatmul } from "./reference.js";
