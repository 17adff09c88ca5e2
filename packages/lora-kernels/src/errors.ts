import type { NativeErrorCode } from "./AddonTypes.js";

/** One place the loader looked for the addon, and why it was not usable. */
export type LoadAttempt = { path: string; reason: string };

export const BUILD_COMMAND =
  "npx @pillow/lora-kernels build   (or, in the pillow repository: pnpm --filter @pillow/native run build)";

/** Thrown on first use when no pillow_native.node could be loaded. Lists every path tried. */
export class NativeAddonNotFoundError extends Error {
  readonly code = "E_NATIVE_NOT_FOUND";
  readonly attempts: LoadAttempt[];

  constructor(attempts: LoadAttempt[]) {
    const tried = attempts.map((attempt) => `  - ${attempt.path}\n      ${attempt.reason}`).join("\n");
    super(
      `pillow's native addon (pillow_native.node) could not be loaded.\nPaths tried:\n${tried}\n` +
        `To fix it, build the addon from source: ${BUILD_COMMAND}\n` +
        "(needs cmake and a C++17 compiler; CUDA is optional), install the prebuilt package for your platform " +
        `(npm i @pillow/native-${process.platform}-${process.arch}), or point PILLOW_NATIVE_PATH at a built pillow_native.node.`,
    );
    this.name = "NativeAddonNotFoundError";
    this.attempts = attempts;
  }
}

/**
 * An error raised by a kernel or by argument checks — this package's own, or the addon's (mapped by the
 * loader, the native error as `cause`); `code` is stable across releases.
 */
export class KernelError extends Error {
  readonly code: NativeErrorCode;
  constructor(code: NativeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KernelError";
    this.code = code;
  }
}
