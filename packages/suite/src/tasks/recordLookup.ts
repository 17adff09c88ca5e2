// Closed QA: a short record of facts about one country; the question names one field.
import { loadCountries } from "../data/countries.js";
import { phrasings, type TaskDefinition, vague } from "./task.js";

const fields = ["capital", "continent", "currency"] as const;

export function createRecordLookupTask(): TaskDefinition {
  const countries = loadCountries();
  return {
    name: "record_lookup",
    category: "closed_qa",
    phrasings: phrasings(
      [
        "Answer the question from the record.",
        "Look up the requested field in the record.",
        "Using the record, reply with the value asked for.",
      ],
      [vague.findIt, vague.respond],
    ),
    draw(random) {
      const country = random.pick(countries);
      const shown = random.sample(fields, 2);
      const asked = random.pick(shown);
      const record = shown.map((field) => `${field} ${country[field]}`).join(", ");
      return { input: `${country.name}: ${record}. ${asked}?`, output: country[asked] };
    },
  };
}
