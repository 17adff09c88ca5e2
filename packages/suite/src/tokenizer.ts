// The tiny model's byte-level tokenizer, expressed as an HF `tokenizer.json` so it loads through
// exactly the path real models use (@huggingface/tokenizers): a BPE model with no merges over the
// 256 byte symbols of the ByteLevel pre-tokenizer, plus <s>, </s>, <pad>. The tokenizer.json itself is
// @pillow/core's (one definition in the repo); this file adds the tokenizer_config.json with the
// chat template that renders formatPrompt's blocks.
import { BYTE_BOS_ID, BYTE_EOS_ID, BYTE_PAD_ID, BYTE_VOCAB_SIZE, byteTokenizerJson } from "@pillow/core";

export const specialTokens = { pad: "<pad>", bos: "<s>", eos: "</s>" } as const;
/** Token id = the byte itself; the three special tokens follow (core's byte tokenizer layout). */
export const bosTokenId = BYTE_BOS_ID;
export const eosTokenId = BYTE_EOS_ID;
export const padTokenId = BYTE_PAD_ID;
export const byteTokenizerVocabSize = BYTE_VOCAB_SIZE;

/** Chat template: the same Alpaca-style blocks as formatPrompt (user turns are instructions). */
export const tinyChatTemplate =
  "{{ bos_token }}{% for message in messages %}" +
  "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n" +
  "{% elif message['role'] == 'user' %}### Instruction:\n{{ message['content'] }}\n### Response:\n" +
  "{% elif message['role'] == 'assistant' %}{{ message['content'] }}\n\n" +
  "{% endif %}{% endfor %}";

/** tokenizer.json of the byte-level BPE (no merges, BOS prepended); the one @pillow/core writes. */
export function buildByteTokenizerJson(): Record<string, unknown> {
  return byteTokenizerJson();
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
