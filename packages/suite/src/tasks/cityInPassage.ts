// Comprehension: a two-sentence passage says which country each of two capitals is in; the
// question asks about one of them. The answer is in the passage.
import { loadCountries } from "../data/countries.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

export function createCityInPassageTask(): TaskDefinition {
  const countries = loadCountries().filter((country) => country.capital !== country.name);
  return {
    name: "city_in_passage",
    category: "comprehension",
    phrasings: phrasings(
      [
        "Read the passage and answer the question.",
        "Using only the passage, say which country the city is in.",
        "Answer the question about the text.",
      ],
      [vague.respond, vague.findIt],
    ),
    draw(random) {
      const [first, second] = random.sample(countries, 2);
      if (first.capital === second.capital) return undefined;
      const asked = random.next() < 0.5 ? first : second;
      return {
        input: `${first.capital} is in ${first.name}. ${second.capital} is in ${second.name}. Where is ${asked.capital}?`,
        output: asked.name,
      };
    },
  };
}
