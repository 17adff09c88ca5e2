// The client side of `pnpm bench serve`, forked as its own process (real clients are other
// processes; their SSE parsing must not be billed to the server's event loop or CPU time). It runs
// the streams it is sent through the official `openai` npm client, all at once, and answers with
// each stream's text, completion tokens, time to first token, or its error.
import OpenAI from "openai";

export type ClientJob = { url: string; bodies: OpenAI.CompletionCreateParamsStreaming[] };
export type StreamOutcome = { text: string; completionTokens: number; firstTokenMs: number } | { error: string };
export type ClientAnswer = { outcomes: StreamOutcome[]; cpuMs: number };

async function streamOnce(client: OpenAI, body: OpenAI.CompletionCreateParamsStreaming): Promise<StreamOutcome> {
  const started = performance.now();
  const stream = await client.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
  let text = "";
  let firstTokenMs: number | undefined;
  let completionTokens = 0;
  for await (const event of stream) {
    const piece = event.choices[0]?.text ?? "";
    if (piece && firstTokenMs === undefined) firstTokenMs = performance.now() - started;
    text += piece;
    if (event.usage) completionTokens = event.usage.completion_tokens;
  }
  return { text, completionTokens, firstTokenMs: firstTokenMs ?? performance.now() - started };
}

process.on("message", async (job: ClientJob) => {
  const cpu = process.cpuUsage();
  const client = new OpenAI({ baseURL: `${job.url}/v1`, apiKey: "bench", maxRetries: 0, timeout: 600_000 });
  const settled = await Promise.allSettled(job.bodies.map((body) => streamOnce(client, body)));
  const used = process.cpuUsage(cpu);
  const answer: ClientAnswer = {
    outcomes: settled.map((result) =>
      result.status === "fulfilled" ? result.value : { error: String(result.reason) },
    ),
    cpuMs: (used.user + used.system) / 1000,
  };
  process.send?.(answer);
});
