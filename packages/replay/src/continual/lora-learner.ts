// A ContinualLearner over @pillow/core's Model: one LoRA adapter trained task after task (that is
// where forgetting comes from), evaluated by greedy generation and ROUGE-L against the references.
import {
  type AdapterOptions,
  exampleLosses,
  formatPrompt,
  type GenerationOptions,
  type Model,
  type TrainOptions,
  train,
} from "@pillow/core";
import { ReplayError } from "../errors.js";
import type { InstructionInstance } from "../planning/replay-plan.js";
import type { ContinualLearner } from "./continual-learner.js";
import { rougeL } from "@pillow/core";

export type LoraLearnerOptions<T extends InstructionInstance> = {
  /**
   * The adapter trained stage after stage: the name of one the model already has, or options for a
   * new one. Default: the model's active adapter, else a new one (r 8, alpha 16, q/v projections).
   * The learner activates it before every stage and evaluation, so other users of the model (another
   * learner, a server) cannot make it train or score the wrong adapter.
   */
  adapter?: string | (AdapterOptions & { name?: string });
  /** Passed to core's train() at every stage; the seed is offset by the stage. Default: 1 epoch, lr 2e-4. */
  train?: Omit<TrainOptions, "resume" | "checkpointDir">;
  /**
   * Prompt of an instance. Default: core's formatPrompt in its compact layout, the one the suite uses
   * ("### Instruction:\n…\n### Input:\n…\n### Response:\n").
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
  /** Called after each evaluated batch with the number of instances it held (progress bars). */
  onEvaluated?: (count: number) => void;
  /**
   * The look-ahead of the "interference" strategy: optimizer steps on a copy of the adapter at the
   * stage's peak learning rate (constant schedule), batch size as in training. Default 4 steps.
   */
  lookAheadSteps?: number;
};

export function createLoraLearner<T extends InstructionInstance>(
  model: Model,
  options: LoraLearnerOptions<T> = {},
): ContinualLearner<T> & { readonly adapter: string; readonly stageLosses: number[][] } {
  let adapter: string;
  if (typeof options.adapter === "string") {
    if (!model.adapterNames().includes(options.adapter)) {
      throw new ReplayError(
        "E_UNKNOWN_ADAPTER",
        `lora learner: the model has no adapter "${options.adapter}" (it has: ${model.adapterNames().join(", ") || "none"})`,
        { field: "adapter" },
      );
    }
    adapter = options.adapter;
  } else if (model.activeAdapter && options.adapter === undefined) {
    adapter = model.activeAdapter;
  } else {
    const { name, ...adapterOptions } = options.adapter ?? { r: 8, alpha: 16, targetModules: ["q_proj", "v_proj"] };
    adapter = name ?? "continual";
    model.addAdapter(adapter, adapterOptions as AdapterOptions);
  }
  model.setActiveAdapter(adapter);
  const stageLosses: number[][] = [];
  const promptOf =
    options.formatPrompt ??
    ((instance: T) => formatPrompt({ instruction: instance.instruction, input: instance.input }));
  const formatResponse = options.formatResponse ?? ((instance: T) => instance.output);
  const score = options.score ?? ((prediction: string, reference: string) => rougeL(prediction, reference) * 100);
  const generateOptions: GenerationOptions = { maxNewTokens: 48, temperature: 0, stop: ["\n"], ...options.generate };
  const baseSeed = options.train?.seed ?? 0;
  const lookAheadSteps = options.lookAheadSteps ?? 4;
  if (!Number.isInteger(lookAheadSteps) || lookAheadSteps < 1) {
    throw new RangeError(`lora learner: lookAheadSteps must be an integer ≥ 1, got ${lookAheadSteps}`);
  }
  const toExample = (instance: T) => ({ prompt: promptOf(instance), response: formatResponse(instance) });
  const lossOptions = {
    appendEos: options.train?.appendEos ?? true,
    maxLength: options.train?.maxLength,
    batchSize: options.train?.batchSize ?? 8,
  };
  async function probeLosses(probes: T[][]): Promise<number[]> {
    const flat = probes.flat();
    const losses = flat.length > 0 ? await exampleLosses(model, flat.map(toExample), lossOptions) : new Float64Array(0);
    let offset = 0;
    return probes.map((probe) => {
      let total = 0;
      for (let k = 0; k < probe.length; k++) total += losses[offset + k];
      offset += probe.length;
      return probe.length > 0 ? total / probe.length : 0;
    });
  }
  return {
    adapter,
    stageLosses,
    async trainStage(instances, stage) {
      if (instances.length === 0) {
        stageLosses.push([]);
        return { losses: [] };
      }
      model.setActiveAdapter(adapter);
      const dataset = instances.map((instance) => ({ prompt: promptOf(instance), response: formatResponse(instance) }));
      const result = await train(model, dataset, {
        epochs: 1,
        lr: 2e-4,
        ...options.train,
        mode: "lora",
        seed: baseSeed + stage,
      });
      stageLosses.push(result.losses);
      return { losses: result.losses };
    },
    async probeInterference(current, probes, stage) {
      if (current.length === 0)
        throw new RangeError(
          "lora learner: probeInterference: the look-ahead needs the current task's training instances",
        );
      model.setActiveAdapter(adapter);
      const before = await probeLosses(probes);
      // The look-ahead trains a copy: the learner's adapter is never written (tests check bit-identity).
      const copy = `${adapter}#look-ahead`;
      model.copyAdapter(adapter, copy);
      try {
        model.setActiveAdapter(copy);
        const { onStep: _onStep, ...trainOptions } = options.train ?? {};
        await train(model, current.map(toExample), {
          epochs: 1,
          lr: 2e-4,
          ...trainOptions,
          warmup: 0,
          schedule: "constant",
          maxSteps: lookAheadSteps,
          mode: "lora",
          seed: baseSeed + stage,
        });
        const after = await probeLosses(probes);
        return { before, after };
      } finally {
        model.setActiveAdapter(adapter);
        model.removeAdapter(copy);
      }
    },
    async evaluate(test, task) {
      if (test.length === 0) throw new RangeError(`lora learner: evaluate: task "${task}" has no test instances`);
      model.setActiveAdapter(adapter);
      const generations = await model.generateBatch(
        test.map((instance) => promptOf(instance)),
        generateOptions,
      );
      let total = 0;
      generations.forEach((generation, index) => {
        total += score(generation.text.trim(), test[index].output);
      });
      options.onEvaluated?.(test.length);
      return total / test.length;
    },
  };
}
