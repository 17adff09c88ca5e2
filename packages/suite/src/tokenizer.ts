// The tiny model's byte-level tokenizer, expressed as an HF `tokenizer.json` so it loads through
// exactly the path real models use (@huggingface/tokenizers): a BPE model with no merges over the
// 256 byte symbols of the ByteLevel pre-tokenizer, plus <pad>, <s>, </s>. Token id = 3 + byte.

export const specialTokens = { pad: "<pad>", bos: "<s>", eos: "</s>" } as const;
export const padTokenId = 0;
export const bosTokenId = 1;
export const eosTokenId = 2;
export const byteTokenOffset = 3;
export const byteTokenizerVocabSize = 256 + byteTokenOffset;

/**
 * GPT-2's reversible byte → printable character table used by the ByteLevel pre-tokenizer: printable
 * Latin-1 bytes map to themselves, the rest to code points from 256 upwards, in byte order.
 */
export function byteToUnicode(): string[] {
  const table: string[] = new Array(256);
  let next = 256;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255);
    table[byte] = String.fromCharCode(printable ? byte : next++);
  }
  return table;
}

/** Chat template: the same Alpaca-style blocks as formatPrompt (user turns are instructions). */
export const tinyChatTemplate =
  "{% for message in messages %}" +
  "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n" +
  "{% elif message['role'] == 'user' %}### Instruction:\n{{ message['content'] }}\n### Response:\n" +
  "{% elif message['role'] == 'assistant' %}{{ message['content'] }}\n\n" +
  "{% endif %}{% endfor %}";

export function buildByteTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {
    [specialTokens.pad]: padTokenId,
    [specialTokens.bos]: bosTokenId,
    [specialTokens.eos]: eosTokenId,
  };
  byteToUnicode().forEach((symbol, byte) => {
    vocab[symbol] = byteTokenOffset + byte;
  });
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [
      special(padTokenId, specialTokens.pad),
      special(bosTokenId, specialTokens.bos),
      special(eosTokenId, specialTokens.eos),
    ],
    normalizer: null,
    pre_tokenizer: byteLevel,
    // Like LLaMA: every encoded sequence starts with <s>.
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: specialTokens.bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: specialTokens.bos, type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: specialTokens.bos, type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: {
        [specialTokens.bos]: { id: specialTokens.bos, ids: [bosTokenId], tokens: [specialTokens.bos] },
      },
    },
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: [],
    },
  };
}

export function buildTokenizerConfigJson(): Record<string, unknown> {
  return {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: specialTokens.bos,
    eos_token: specialTokens.eos,
    pad_token: specialTokens.pad,
    unk_token: null,
    model_max_length: 512,
    clean_up_tokenization_spaces: false,
    tokenizer_class: "PreTrainedTokenizerFast",
    chat_template: tinyChatTemplate,
    added_tokens_decoder: Object.fromEntries(
      [
        [padTokenId, specialTokens.pad],
        [bosTokenId, specialTokens.bos],
        [eosTokenId, specialTokens.eos],
      ].map(([id, content]) => [
        String(id),
        { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
      ]),
    ),
  };
}
