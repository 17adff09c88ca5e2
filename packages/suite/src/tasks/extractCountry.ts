// Extraction: pull the country's name out of a short sentence.
import { loadCountries } from "../data/countries.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

const people = ["Ana", "Ben", "Maria", "Omar", "Li", "Sara", "Tom", "Ravi", "Eva", "Jon", "Mia", "Ali"];
const months = ["January", "March", "April", "May", "June", "July", "August", "October"];
const templates = [
  (person: string, country: string, month: string) => `${person} flew to ${country} in ${month}.`,
  (person: string, country: string) => `${person} was born in ${country}.`,
  (person: string, country: string) => `Next year ${person} moves to ${country}.`,
  (person: string, country: string, month: string) => `In ${month} ${person} toured ${country} by bus.`,
  (person: string, country: string) => `${person} sells tea from ${country}.`,
];

export function createExtractCountryTask(): TaskDefinition {
  const countries = loadCountries();
  return {
    name: "extract_country",
    category: "extraction",
    phrasings: phrasings(
      [
        "Extract the country mentioned in the sentence.",
        "Which country is named in this text?",
        "Pull out the country name.",
      ],
      [vague.findIt, vague.processInput],
    ),
    draw(random) {
      const country = random.pick(countries).name;
      const sentence = random.pick(templates)(random.pick(people), country, random.pick(months));
      return { input: sentence, output: country };
    },
  };
}
