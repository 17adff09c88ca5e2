// Every suite, split and corpus is reproducible from one seed: the draws come from core's one seeded
// generator (xoshiro128**), string seeds hashed with FNV-1a. The corpus, and so the shipped tiny model,
// depends on this exact stream; `random.test.ts` pins it.
export { createRandom, hashString, Random } from "@pillow/core";
