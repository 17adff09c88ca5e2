// Request bodies of the OpenAI-compatible endpoints, validated with zod so a bad field is answered
// with a 400 naming it. Unknown fields pass through (clients send many we do not use).
import { z } from "zod";

const stop = z.union([z.string(), z.array(z.string()).max(16)]).optional();

/** Our extension: `"pillow": { "demos": 3 }` prepends demonstrations chosen by the server's matcher. */
const pillowExtension = z
  .object({
    demos: z.number().int().min(0).max(16).optional(),
  })
  .optional();

const sampling = {
  model: z.string().min(1).max(512).optional(),
  max_tokens: z.number().int().min(1).optional(),
  max_completion_tokens: z.number().int().min(1).optional(),
  temperature: z.number().min(0).max(5).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  min_p: z.number().min(0).max(1).optional(),
  seed: z.number().int().optional(),
  stop,
  n: z.number().int().min(1).max(1, "only n = 1 is supported").optional(),
  stream: z.boolean().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  repetition_penalty: z.number().gt(0).optional(),
  frequency_penalty: z.number().min(-2).max(2).optional(),
  presence_penalty: z.number().min(-2).max(2).optional(),
  /** vLLM's extension: keep generating past end-of-sequence tokens. */
  ignore_eos: z.boolean().optional(),
  pillow: pillowExtension,
  pillow_matcher: z.boolean().optional(),
};

export const completionBody = z.looseObject({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).length(1, "send one prompt per request")]),
});

const contentPart = z.looseObject({ type: z.string(), text: z.string().optional() });

export const chatMessage = z.looseObject({
  role: z.enum(["system", "user", "assistant", "tool", "developer"]),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
});

export const chatBody = z.looseObject({
  ...sampling,
  messages: z.array(chatMessage).min(1, "messages must not be empty"),
});

export const embeddingBody = z.looseObject({
  model: z.string().min(1).max(512).optional(),
  input: z.union([z.string(), z.array(z.string()).min(1).max(2048)]),
  encoding_format: z.enum(["float", "base64"]).optional(),
});

export type CompletionBody = z.infer<typeof completionBody>;
export type ChatBody = z.infer<typeof chatBody>;
export type EmbeddingBody = z.infer<typeof embeddingBody>;

/** "messages.0.role: Invalid option: ..." — the first problem, with the field's path. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  const field = issue.path.length > 0 ? issue.path.join(".") : "body";
  return `${field}: ${issue.message}`;
}
