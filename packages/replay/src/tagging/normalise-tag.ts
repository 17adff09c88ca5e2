// Tag normalisation as InsCL does it: lower-case, every non-letter becomes a space, words lemmatised.
import { analyse } from "./language-model.js";

const cache = new Map<string, string>();

export function normaliseTag(tag: string): string {
  const cached = cache.get(tag);
  if (cached !== undefined) return cached;
  const letters = tag
    .toLowerCase()
    .replace(/[^a-z]+/g, " ")
    .trim();
  const normalised =
    letters === ""
      ? ""
      : analyse(letters)
          .map((token) => token.lemma.replace(/[^a-z]+/g, " ").trim())
          .filter((lemma) => lemma !== "")
          .join(" ");
  cache.set(tag, normalised);
  return normalised;
}
