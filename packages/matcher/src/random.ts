// Every stochastic choice in the matcher and the trainer draws from core's one seeded generator, so runs
// are reproducible from one seed; this module keeps the matcher's names for it.
import type { Random } from "@pillow/core";

export { createRandom, hashString, Random } from "@pillow/core";

/** A shuffled copy: the function form of `random.shuffled(items)`, kept for the matcher's callers. */
export function shuffled<T>(items: readonly T[], random: Random): T[] {
  return random.shuffled(items);
}
