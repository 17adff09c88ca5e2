// Misc: write a number from 0 to 999 in English words, as `number-to-words` spells it.
import { createRequire } from "node:module";
import { drawNumber } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

const require = createRequire(import.meta.url);
export const toWords = (require("number-to-words") as { toWords(value: number): string }).toWords;

export function createNumberWordsTask(): TaskDefinition {
  return {
    name: "number_words",
    category: "misc",
    family: "number",
    phrasings: phrasings(
      ["Write this number in English words.", "Spell out the number.", "Convert the digits to words."],
      [vague.number, vague.giveResult],
      ["How would you say it aloud?", "Put it the way a cheque shows it."],
    ),
    draw(random) {
      const value = drawNumber(random);
      return { input: String(value), output: toWords(value) };
    },
  };
}
