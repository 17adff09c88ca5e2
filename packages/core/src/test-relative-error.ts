// Test helper shared by core's model tests (not exported from the package).
import { expect } from "vitest";

/** max |actual − expected| / max |expected| over the whole tensor; the lengths must agree. */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    difference = Math.max(difference, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return difference / Math.max(scale, 1e-30);
}
