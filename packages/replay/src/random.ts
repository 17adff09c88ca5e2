// Every replay plan is a pure function of its seed: the draws come from core's one seeded generator, and
// `deriveSeed` gives stages and tasks independent child seeds. This module keeps replay's names for them.
export { createRandom, deriveSeed, Random } from "@pillow/core";
