// Word tokenisation for retrieval (BM25, TF-IDF): Unicode-aware, lower-cased, NFKC-normalised.
// Letters and digits of any script form words; CJK ideographs and kana stand alone because those
// scripts do not separate words with spaces.

const wordPattern =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|(?:(?![\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}])[\p{L}\p{N}\p{M}])+/gu;

export function words(text: string): string[] {
  return text.normalize("NFKC").toLowerCase().match(wordPattern) ?? [];
}
