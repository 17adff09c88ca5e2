// Misc: write a number from 0 to 999 in English words, as `number-to-words` spells it.
import { createRequire } from "node:module";
import { phrasings, type TaskDefinition, vague } from "./task.js";

const require = createRequire(import.meta.url);
export const toWords = (require("number-to-words") as { toWords(value: number): string }).toWords;

export function createNumberWordsTask(): TaskDefinition {
  return {
    name: "number_words",
    category: "misc",
    phrasings: phrasings(
      ["Write this number in English words.", "Spell out the number.", "Convert the digits to words."],
      [vague.rewrite, vague.giveResult],
    ),
    draw(random) {
      // Favour small numbers a little: they are the building blocks of the larger ones.
      const value = random.next() < 0.3 ? random.between(0, 99) : random.between(100, 999);
      return { input: String(value), output: toWords(value) };
    },
  };
}
