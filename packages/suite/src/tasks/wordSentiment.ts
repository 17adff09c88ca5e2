// Sentiment analysis: the polarity of a word with a clear AFINN-165 valence (|score| >= 2).
import { loadAfinn } from "../data/lexicon.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createWordSentimentTask(): TaskDefinition {
  const positive: string[] = [];
  const negative: string[] = [];
  for (const [word, score] of loadAfinn()) {
    if (word.length > 14) continue;
    if (score >= 2) positive.push(word);
    else if (score <= -2) negative.push(word);
  }
  return {
    name: "word_sentiment",
    category: "sentiment_analysis",
    phrasings: phrasings(
      [
        "Is the sentiment of this word positive or negative?",
        "Classify the sentiment of the word: positive or negative.",
        "Sentiment?",
      ],
      [vague.classifyWord, vague.evaluateText],
    ),
    draw(random) {
      // Balanced labels (AFINN has more negative than positive words).
      return random.next() < 0.5
        ? { input: random.pick(positive), output: "positive" }
        : { input: random.pick(negative), output: "negative" };
    },
  };
}
