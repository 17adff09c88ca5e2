import type { GenerationBackend } from "@pillow/core";
import { describe, expect, it } from "vitest";
import { backendEmbedder, createHashingEmbedder, stackVectors } from "./embedder.js";

function cosine(x: Float32Array, y: Float32Array): number {
  let dot = 0;
  for (let k = 0; k < x.length; k++) dot += x[k] * y[k];
  return dot;
}

describe("hashing embedder", () => {
  it("gives unit vectors, deterministic, closer for similar texts", async () => {
    const embedder = createHashingEmbedder({ dimensions: 256 });
    expect(embedder.name).toBe("hashing:256");
    const [a, b, c, empty] = await embedder.embed([
      "Classify the sentiment of this review.",
      "Classify the sentiment of the review below.",
      "Convert the number to English words.",
      "!!!",
    ]);
    for (const vector of [a, b, c, empty]) expect(cosine(vector, vector)).toBeCloseTo(1, 6);
    expect(cosine(a, b)).toBeGreaterThan(cosine(a, c) + 0.3);
    expect(Array.from((await embedder.embed(["Classify the sentiment of this review."]))[0])).toEqual(Array.from(a));
  });
  it("wraps a backend's embed and names a backend without one", async () => {
    const backend = {
      name: "b",
      embed: async (texts: string[]) => texts.map(() => Float32Array.from([1, 2])),
    } as unknown as GenerationBackend;
    expect(backendEmbedder(backend).name).toBe("backend:b");
    expect(await backendEmbedder(backend).embed(["x"])).toEqual([Float32Array.from([1, 2])]);
    expect(() => backendEmbedder({ name: "plain" } as GenerationBackend)).toThrow(/backend plain has no embed/);
  });
  it("stacks vectors and checks their dimensions", () => {
    const stacked = stackVectors([Float32Array.from([1, 2]), Float32Array.from([3, 4])], "t");
    expect(stacked).toEqual({ data: Float32Array.from([1, 2, 3, 4]), n: 2, dim: 2 });
    expect(() => stackVectors([Float32Array.from([1]), Float32Array.from([1, 2])], "t")).toThrow(
      /vector 1 has 2 dimensions/,
    );
  });
});
