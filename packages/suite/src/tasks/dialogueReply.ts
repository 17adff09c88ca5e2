// Dialogue: B's short reply to A's question, following three fixed conversational patterns over
// plural nouns (made with `pluralize`).
import { loadVocabulary, pluralize } from "../data/vocabulary.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

const patterns = [
  (plural: string) => ({ input: `A: Do you like ${plural}? B:`, output: `Yes, I like ${plural}.` }),
  (plural: string) => ({ input: `A: Do you hate ${plural}? B:`, output: `No, I love ${plural}.` }),
  (plural: string) => ({ input: `A: Can I see your ${plural}? B:`, output: `Sure, here they are.` }),
  (plural: string) => ({ input: `A: Got any ${plural}? B:`, output: `I have two ${plural}.` }),
];

export function createDialogueReplyTask(): TaskDefinition {
  const plurals = loadVocabulary()
    .nouns.map((noun) => pluralize(noun))
    .filter((plural) => /^[a-z]{3,10}$/.test(plural));
  return {
    name: "dialogue_reply",
    category: "dialogue",
    family: "dialogue",
    phrasings: phrasings(
      ["Write B's reply to A.", "Continue the dialogue with B's short answer.", "Reply as speaker B."],
      [vague.dialogue, vague.respond],
      ["What does B say?", "Answer for the second person."],
    ),
    draw(random) {
      return random.pick(patterns)(random.pick(plurals));
    },
  };
}
