// PILLOW prompting on the server: demonstrations chosen for the user's query are written in front
// of it, in the same Alpaca-style layout the models are tuned on, so the model can copy their form.
import { formatDemonstration, type PromptLayout } from "@pillow/core";
import type { ChatMessage, Demo } from "./engine.js";

export type DemoFormatter = (demos: Demo[], query: string) => string;

/** Core's demonstration blocks in the given layout, then the query as the client sent it. */
export function demoFormatter(layout: PromptLayout): DemoFormatter {
  return (demos, query) => `${demos.map((demo) => formatDemonstration(demo, layout)).join("")}${query}`;
}

/** "### Instruction: … ### Input: … ### Response: …" per demo, blank lines between the sections. */
export const formatDemosAlpaca: DemoFormatter = demoFormatter("spaced");

/** The text the matcher looks at: the last user turn of a chat. */
export function chatQuery(messages: ChatMessage[]): string {
  for (let index = messages.length - 1; index >= 0; index--) {
    if (messages[index].role === "user") return messages[index].content;
  }
  return "";
}

/** The chat with demonstrations folded into its last user turn. */
export function withDemosInChat(messages: ChatMessage[], demos: Demo[], format: DemoFormatter): ChatMessage[] {
  const last = messages.map((message) => message.role).lastIndexOf("user");
  if (last < 0 || demos.length === 0) return messages;
  return messages.map((message, index) =>
    index === last ? { ...message, content: format(demos, message.content) } : message,
  );
}
