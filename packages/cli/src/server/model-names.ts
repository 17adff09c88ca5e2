// Served model ids: "base", "base:adapter", or (vLLM style) the adapter's name alone. Adapter names
// become directory lookups in some engines, so only plain names are accepted, never paths.
import { HttpError } from "./http-error.js";

const ADAPTER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function checkAdapterName(name: string): void {
  if (!ADAPTER_NAME.test(name) || name.includes("..")) {
    throw new HttpError(
      400,
      `adapter name "${name}" is not allowed: use letters, digits, "_", "-" and "." (no paths)`,
      "invalid_request_error",
      "invalid_adapter_name",
      "model",
    );
  }
}

/** "base" | "base:adapter" | "adapter" (vLLM style) → the served id and its adapter part. */
export function resolveModel(requested: string | undefined, served: string[]): { model: string; adapter?: string } {
  const base = served[0];
  if (requested === undefined) return { model: base };
  const colon = requested.indexOf(":");
  if (colon >= 0) checkAdapterName(requested.slice(colon + 1));
  else if (requested !== base) checkAdapterName(requested);
  let model = requested;
  if (!served.includes(model) && colon < 0 && served.includes(`${base}:${requested}`)) model = `${base}:${requested}`;
  if (!served.includes(model)) {
    throw new HttpError(
      404,
      `model "${requested}" is not served here; available: ${served.join(", ")} (GET /v1/models)`,
      "not_found_error",
      "model_not_found",
      "model",
    );
  }
  const separator = model.indexOf(":");
  return separator >= 0 ? { model, adapter: model.slice(separator + 1) } : { model };
}
