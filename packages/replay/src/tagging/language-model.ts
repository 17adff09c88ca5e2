// One shared wink-nlp pipeline (loading the model takes ~100 ms; do it once, lazily).
import winkNLP from "wink-nlp";
import model from "wink-eng-lite-web-model";

type WinkPipeline = ReturnType<typeof winkNLP>;
let pipeline: WinkPipeline | undefined;

export function englishPipeline(): WinkPipeline {
  pipeline ??= winkNLP(model);
  return pipeline;
}

export type AnalysedToken = { lemma: string; partOfSpeech: string; isStopWord: boolean };

export function analyse(text: string): AnalysedToken[] {
  const nlp = englishPipeline();
  const its = nlp.its;
  const tokens = nlp.readDoc(text).tokens();
  // The types declare its.lemma for the full model only; the lite web model ships lemmas too.
  const lemmas = tokens.out(its.lemma as unknown as typeof its.value) as string[];
  const partsOfSpeech = tokens.out(its.pos) as string[];
  const stopWords = tokens.out(its.stopWordFlag) as unknown as boolean[];
  return lemmas.map((lemma, index) => ({
    lemma: lemma.toLowerCase(),
    partOfSpeech: partsOfSpeech[index],
    isStopWord: stopWords[index],
  }));
}
