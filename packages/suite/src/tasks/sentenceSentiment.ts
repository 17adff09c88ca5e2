// Sentiment analysis: the polarity of a sentence, fixed by its AFINN-165 adjective.
import { drawSentence } from "./inputs.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createSentenceSentimentTask(): TaskDefinition {
  return {
    name: "sentence_sentiment",
    category: "sentiment_analysis",
    family: "sentence",
    phrasings: phrasings(
      ["Is the sentence positive or negative?", "Classify the sentiment of the sentence.", "Sentiment?"],
      [vague.sentence, vague.answer],
      ["How does the writer feel about it?", "What is the mood here?"],
    ),
    draw(random) {
      const sentence = drawSentence(random);
      return sentence && { input: sentence.text, output: sentence.sentiment };
    },
  };
}
