// InsInfo: how much rarely-seen intent an instruction carries (InsCL).

/**
 * InsInfo(instruction) = Σ over its distinct tags t of ln(N / f_t), where N is the number of
 * instructions given and f_t the number of them carrying tag t. An instruction without tags scores 0.
 */
export function insInfo(tagsPerInstruction: readonly (readonly string[])[]): number[] {
  if (!Array.isArray(tagsPerInstruction)) throw new TypeError("insInfo: expected an array of tag lists");
  const instructionCount = tagsPerInstruction.length;
  const frequency = new Map<string, number>();
  const distinctTags = tagsPerInstruction.map((tags, index) => {
    if (!Array.isArray(tags)) throw new TypeError(`insInfo: entry ${index} must be an array of tags`);
    const unique = new Set<string>();
    for (const tag of tags) {
      if (typeof tag !== "string") throw new TypeError(`insInfo: entry ${index} holds a non-string tag`);
      unique.add(tag);
    }
    for (const tag of unique) frequency.set(tag, (frequency.get(tag) ?? 0) + 1);
    return unique;
  });
  return distinctTags.map((tags) => {
    let information = 0;
    for (const tag of tags) information += Math.log(instructionCount / frequency.get(tag)!);
    return information;
  });
}

/** Scores scaled to sum 1 within a group; all-zero scores become uniform. */
export function normaliseWithinTask(scores: readonly number[]): number[] {
  const total = scores.reduce((sum, value) => sum + value, 0);
  if (scores.length === 0) return [];
  return scores.map((value) => (total > 0 ? value / total : 1 / scores.length));
}
