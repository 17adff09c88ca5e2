// Countries from `countries-list`: name, capital, continent and first currency, kept only where every
// field is plain ASCII and non-empty, so the tiny byte-level model sees short exact strings.
import { continents, countries } from "countries-list";

export type Country = {
  code: string;
  name: string;
  capital: string;
  continent: string;
  currency: string;
};

const printableAscii = /^[ -~]+$/;

let cached: Country[] | undefined;

export function loadCountries(): Country[] {
  if (cached) return cached;
  const continentNames = continents as Record<string, string>;
  const result: Country[] = [];
  for (const [code, entry] of Object.entries(countries)) {
    const capital = entry.capital ?? "";
    const currency = entry.currency?.[0] ?? "";
    const continent = continentNames[entry.continent] ?? "";
    if (![entry.name, capital, currency, continent].every((field) => printableAscii.test(field))) continue;
    // A territory that is "part of" another country repeats its parent's facts; keep sovereign entries.
    if ("partOf" in entry && entry.partOf) continue;
    result.push({ code, name: entry.name, capital, continent, currency });
  }
  result.sort((a, b) => a.code.localeCompare(b.code));
  cached = result;
  return result;
}
