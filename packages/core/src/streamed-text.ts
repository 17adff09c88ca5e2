// Turns a growing list of generated tokens into text deltas safe to send: a stop string ends the
// text before it (and is never sent), and text that may still become a stop string, or an
// incomplete UTF-8 sequence (decoded as U+FFFD), is held back until it is decided.
import type { Tokenizer } from "./tokenizer.js";

export type TextStep = { delta: string; stopped: boolean };

export class StreamedText {
  private readonly stops: string[];
  private emitted = "";
  private text = "";
  private stoppedAt = false;

  constructor(
    private readonly tokenizer: Tokenizer,
    stops: string[] | undefined,
  ) {
    this.stops = (stops ?? []).filter((stop) => typeof stop === "string" && stop.length > 0);
  }

  /** The full text so far (up to a stop string, when one was found). */
  get value(): string {
    return this.text;
  }

  get stopped(): boolean {
    return this.stoppedAt;
  }

  /** All tokens generated so far (the newest last): what became safe to send, and whether a stop string ended it. */
  update(generated: number[]): TextStep {
    const text = this.tokenizer.decode(generated, { skipSpecialTokens: true });
    let stopAt = -1;
    for (const stop of this.stops) {
      const at = text.indexOf(stop);
      if (at >= 0 && (stopAt < 0 || at < stopAt)) stopAt = at;
    }
    if (stopAt >= 0) {
      this.text = text.slice(0, stopAt);
      this.stoppedAt = true;
      return { delta: this.take(this.text), stopped: true };
    }
    let safe = text.replace(/\uFFFD+$/, "");
    for (const stop of this.stops) {
      for (let k = Math.min(stop.length - 1, safe.length); k > 0; k--) {
        if (safe.endsWith(stop.slice(0, k))) {
          safe = safe.slice(0, safe.length - k);
          break;
        }
      }
    }
    this.text = text;
    return { delta: this.take(safe), stopped: false };
  }

  /** Text held back once generation is over (a partial stop string or UTF-8 sequence), "" when none. */
  flush(): string {
    return this.stoppedAt ? "" : this.take(this.text);
  }

  private take(upTo: string): string {
    if (upTo.length <= this.emitted.length || !upTo.startsWith(this.emitted)) return "";
    const delta = upTo.slice(this.emitted.length);
    this.emitted = upTo;
    return delta;
  }
}
