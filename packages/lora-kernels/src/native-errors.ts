// Native failures as KernelErrors. The addon throws (or rejects with) plain JS Errors carrying a stable
// `code` (native/src/runtime/errors.h); wrapping the loaded addon once turns every such error into a
// KernelError with the same code and message, so `instanceof KernelError` catches kernel failures and
// this package's own argument checks alike. Errors without a known code pass through unchanged.
import { type AddonTypes, NATIVE_ERROR_CODES, type NativeErrorCode } from "./AddonTypes.js";
import { KernelError } from "./errors.js";

const STABLE_CODES: ReadonlySet<string> = new Set(NATIVE_ERROR_CODES);

/** The KernelError for a native error with a stable code; anything else unchanged. */
export function asKernelError(error: unknown): unknown {
  if (error instanceof KernelError || !(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string" || !STABLE_CODES.has(code)) return error;
  const kernelError = new KernelError(code as NativeErrorCode, error.message, { cause: error });
  kernelError.stack = error.stack;
  return kernelError;
}

/** Calls `run`, rethrowing its error (thrown or, for a promise, rejected) as a KernelError. */
function mapErrors<T>(run: () => T): T {
  let result: T;
  try {
    result = run();
  } catch (error) {
    throw asKernelError(error);
  }
  if (result instanceof Promise) {
    return result.catch((error: unknown) => {
      throw asKernelError(error);
    }) as T;
  }
  return result;
}

type AnyFunction = (...args: unknown[]) => unknown;

/** Native objects (LlamaModel instances) seen through a proxy whose methods map errors. */
function wrapInstance<T extends object>(target: T): T {
  const methods = new Map<PropertyKey, AnyFunction>();
  return new Proxy(target, {
    get(object, property) {
      // `using model = new LlamaModel(...)` disposes through the native dispose().
      if (property === Symbol.dispose) property = "dispose";
      const value = Reflect.get(object, property, object);
      if (typeof value !== "function") return value;
      let method = methods.get(property);
      if (!method) {
        // Native methods must run with the native object itself as `this`, never the proxy.
        method = (...args: unknown[]) => mapErrors(() => (value as AnyFunction).apply(object, args));
        methods.set(property, method);
      }
      return method;
    },
  });
}

/** The addon with every function, class constructor and native object method mapping errors. */
export function withKernelErrors(addon: AddonTypes): AddonTypes {
  const wrapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(addon)) {
    // By the addon's convention a capitalised export is a class (LlamaModel), the rest are functions.
    if (/^[A-Z]/.test(name) && typeof value === "function") {
      const NativeClass = value as new (...args: unknown[]) => object;
      wrapped[name] = function NativeObject(...args: unknown[]) {
        return wrapInstance(mapErrors(() => new NativeClass(...args)));
      };
    } else if (typeof value === "function") {
      wrapped[name] = (...args: unknown[]) => mapErrors(() => (value as AnyFunction).apply(addon, args));
    } else {
      wrapped[name] = value;
    }
  }
  return wrapped as AddonTypes;
}
