// Where a kernel runs: "cpu" (always there) or "cuda" (the addon's CUDA backend: a real GPU, or the
// PILLOW_CUDA=emulate build that runs the CUDA kernels on CPU threads for tests). The default is
// PILLOW_DEVICE when set, else "cpu". The addon checks a "cuda" request before any kernel runs and
// throws E_CUDA with the reason when no device is usable.
import { KernelError } from "./errors.js";

export type Device = "cpu" | "cuda";

/** Options every kernel call takes. */
export type DeviceOptions = { device?: Device };

/**
 * Options of the products that return a new array: `out` receives the result instead (exactly the
 * result's length, sharing no memory with an input; it is also what the call returns), so a loop can
 * reuse one buffer instead of allocating and zero-filling a fresh one per call.
 */
export type OutputOptions = DeviceOptions & { out?: Float32Array };

export const DEVICES: readonly Device[] = ["cpu", "cuda"];

function checkDevice(value: unknown, where: string): Device {
  if (value === "cpu" || value === "cuda") return value;
  throw new KernelError("E_ARGUMENT", `${where} must be "cpu" or "cuda", got ${JSON.stringify(value)}`);
}

/** The device a call runs on: its own option, else PILLOW_DEVICE, else "cpu". */
export function resolveDevice(device?: Device): Device {
  if (device !== undefined) return checkDevice(device, "options.device");
  const fromEnvironment = process.env.PILLOW_DEVICE;
  if (fromEnvironment === undefined || fromEnvironment === "") return "cpu";
  return checkDevice(fromEnvironment, "PILLOW_DEVICE");
}

/** A shape object with the resolved device, as the addon reads it (a non-object is left to its checks). */
export function onDevice<T extends object>(shape: T, options?: DeviceOptions): T & { device: Device } {
  const device = resolveDevice(options?.device);
  if (typeof shape !== "object" || shape === null) return shape as T & { device: Device };
  return { ...shape, device };
}
