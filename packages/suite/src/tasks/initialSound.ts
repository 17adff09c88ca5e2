// Detection: whether a word begins with a vowel letter (a, e, i, o, u) or a consonant.
import { drawNoun } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createInitialSoundTask(): TaskDefinition {
  return {
    name: "initial_sound",
    category: "detection",
    family: "word",
    phrasings: phrasings(
      [
        "Does the word start with a vowel or a consonant?",
        "Vowel or consonant first?",
        "Classify the first letter as vowel or consonant.",
      ],
      [vague.word, vague.processInput],
      ["What kind of letter opens it?", "Describe how it begins."],
    ),
    draw(random) {
      const noun = drawNoun(random);
      return { input: noun, output: /^[aeiou]/.test(noun) ? "vowel" : "consonant" };
    },
  };
}
