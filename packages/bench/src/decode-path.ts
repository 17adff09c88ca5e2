// pillow's decode path as a function of the tokens: what generate runs after the prompt, one token a
// step through the KV cache (the GEMV kernels: integer dot products on a quantized file).
import type { Model } from "@pillow/core";

/** Logits of every position of `tokens`, [T, vocab], each computed one token a step through the KV cache. */
export async function decodePathLogits(model: Model, tokens: Int32Array): Promise<Float32Array> {
  const rows: Float32Array[] = [];
  for (let i = 0; i < tokens.length; i++) {
    rows.push(
      await model.native.forward(tokens.subarray(i, i + 1), { useCache: true, startPosition: i, lastOnly: true }),
    );
  }
  const out = new Float32Array(rows.reduce((sum, row) => sum + row.length, 0));
  for (const [i, row] of rows.entries()) out.set(row, i * row.length);
  return out;
}
