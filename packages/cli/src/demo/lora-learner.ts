// The CLI's settings for @pillow/replay's LoRA learner on suite-format instances: the suite's prompt
// template and newline-terminated targets without EOS (as the tiny model was pretrained), greedy
// answers scored by the suite's ROUGE-L × 100, and the progress and Ctrl-C hooks the commands need.
import type { Model } from "@pillow/core";
import { type ContinualLearner, createLoraLearner as createReplayLearner } from "@pillow/replay";
import { formatPrompt, formatResponse, type Instance, promptStopStrings, rougeL } from "@pillow/suite";

export type LoraLearnerOptions = {
  /** The adapter trained stage after stage (must already exist on the model). */
  adapter: string;
  epochs: number;
  batchSize: number;
  learningRate: number;
  maxNewTokens: number;
  seed: number;
  /** Called after every optimizer step (progress bars). */
  onStep?: (loss: number) => void;
  /** Called after each evaluated batch with its number of test instances (progress bars). */
  onEvaluated?: (count: number) => void;
  /** Checked between steps: throw to stop (Ctrl-C). */
  checkInterrupted?: () => void;
  /** Optimizer steps of the interference strategy's look-ahead (default 4, see @pillow/replay). */
  lookAheadSteps?: number;
};

export type LoraLearner = ContinualLearner<Instance> & { readonly stageLosses: number[][] };

export function createLoraLearner(model: Model, options: LoraLearnerOptions): LoraLearner {
  return createReplayLearner<Instance>(model, {
    adapter: options.adapter,
    formatPrompt: (instance) => formatPrompt({ instruction: instance.instruction, input: instance.input }),
    formatResponse: (instance) => formatResponse(instance.output),
    train: {
      appendEos: false,
      epochs: options.epochs,
      batchSize: options.batchSize,
      lr: options.learningRate,
      warmup: 0,
      seed: options.seed,
      onStep: (info) => {
        options.onStep?.(info.loss);
        options.checkInterrupted?.();
      },
    },
    generate: { maxNewTokens: options.maxNewTokens, temperature: 0, stop: promptStopStrings },
    score: (prediction, reference) => rougeL(prediction, reference) * 100,
    onEvaluated: options.onEvaluated,
    lookAheadSteps: options.lookAheadSteps,
  });
}
