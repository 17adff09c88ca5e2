// A ContinualLearner over @pillow/core's Model: one LoRA adapter trained task after task (that is
// where forgetting comes from), evaluated by greedy generation and ROUGE-L against the references.
import { type AdapterOptions, type GenerationOptions, type Model, type TrainOptions, train } from "@pillow/core";
import type { InstructionInstance } from "../planning/replay-plan.js";
import type { ContinualLearner } from "./run-continual.js";
import { rougeLF1 } from "./rouge-l.js";

export type LoraLearnerOptions<T extends InstructionInstance> = {
  /** Adapter to create and activate when the model has no active one (default r 8, alpha 16, q/v projections). */
  adapter?: AdapterOptions & { name?: string };
  /** Passed to core's train() at every stage; the seed is offset by the stage. Default: 1 epoch, lr 2e-4. */
  train?: Omit<TrainOptions, "resume" | "checkpointDir">;
  /**
   * Prompt of an instance. Default: the Alpaca-style block the suite uses
   * ("### Instruction:\n…\n### Input:\n…\n### Response:\n"); pass the suite's formatPrompt to be sure.
   */
  formatPrompt?: (instance: T) => string;
  /**
   * Training target of an instance (default: its output). For a model pretrained on a template whose
   * answers end with a newline (the suite's tiny model), pass the suite's formatResponse and
   * `train: { appendEos: false }`: training an end token the model never saw damages every task.
   */
  formatResponse?: (instance: T) => string;
  /** Greedy, 48 new tokens, stop at the first newline unless given. */
  generate?: GenerationOptions;
  /** Score of one prediction against its reference, in [0, 100] (default ROUGE-L F1 · 100). */
  score?: (prediction: string, reference: string) => number;
};

export function alpacaPrompt(instance: InstructionInstance): string {
  const inputPart = instance.input !== undefined && instance.input.length > 0 ? `### Input:\n${instance.input}\n` : "";
  return `### Instruction:\n${instance.instruction}\n${inputPart}### Response:\n`;
}

export function createLoraLearner<T extends InstructionInstance>(
  model: Model,
  options: LoraLearnerOptions<T> = {},
): ContinualLearner<T> & { readonly adapter: string } {
  let adapter = model.activeAdapter;
  if (!adapter) {
    const { name, ...adapterOptions } = options.adapter ?? { r: 8, alpha: 16, targetModules: ["q_proj", "v_proj"] };
    adapter = name ?? "continual";
    model.addAdapter(adapter, adapterOptions as AdapterOptions);
    model.setActiveAdapter(adapter);
  }
  const formatPrompt = options.formatPrompt ?? alpacaPrompt;
  const formatResponse = options.formatResponse ?? ((instance: T) => instance.output);
  const score = options.score ?? ((prediction: string, reference: string) => rougeLF1(prediction, reference) * 100);
  const generateOptions: GenerationOptions = { maxNewTokens: 48, temperature: 0, stop: ["\n"], ...options.generate };
  const baseSeed = options.train?.seed ?? 0;
  return {
    adapter,
    async trainStage(instances, stage) {
      if (instances.length === 0) return { losses: [] };
      const dataset = instances.map((instance) => ({ prompt: formatPrompt(instance), response: formatResponse(instance) }));
      const result = await train(model, dataset, { epochs: 1, lr: 2e-4, ...options.train, mode: "lora", seed: baseSeed + stage });
      return { losses: result.losses };
    },
    async evaluate(test, task) {
      if (test.length === 0) throw new Error(`lora learner: task "${task}" has no test instances`);
      const generations = await model.generateBatch(
        test.map((instance) => formatPrompt(instance)),
        generateOptions,
      );
      let total = 0;
      generations.forEach((generation, index) => {
        total += score(generation.text.trim(), test[index].output);
      });
      return total / test.length;
    },
  };
}
