// The one embedder contract, here in core so that both its users — the matcher (query and pool
// embeddings) and replay (instruction and tag embeddings) — share it without depending on each other.
// Embedders are frozen: no training touches them, so a text always maps to the same vector.

export interface Embedder {
  /** For logs and cache keys, e.g. "tfidf:2048", "hashing:512" or "openai:text-embedding-3-small". */
  readonly name: string;
  /** One vector per text, in order, all of one length. Vectors may be cached: treat them as read-only. */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
}
