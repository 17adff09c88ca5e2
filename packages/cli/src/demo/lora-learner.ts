// The learner glue between InsCL's continual loop (@pillow/replay) and the native model (@pillow/core):
// each stage LoRA-trains one adapter on the stage's instances (current task + replay), and evaluation
// is greedy generation on a test split scored by ROUGE-L F1 × 100.
import { type Model, train } from "@pillow/core";
import type { ContinualLearner } from "@pillow/replay";
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
  /** Called after each evaluated test instance (progress bars). */
  onEvaluated?: () => void;
  /** Checked between steps: throw to stop (Ctrl-C). */
  checkInterrupted?: () => void;
};

export type LoraLearner = ContinualLearner<Instance> & { readonly stageLosses: number[][] };

export const promptOf = (instance: Pick<Instance, "instruction" | "input">) =>
  formatPrompt({ instruction: instance.instruction, input: instance.input });

/** Mean ROUGE-L F1 × 100 of greedy answers on `test` with the model's active adapter. */
export async function scoreOn(model: Model, test: readonly Instance[], maxNewTokens: number, onEach?: () => void): Promise<number> {
  let total = 0;
  for (const instance of test) {
    const result = await model.generate(promptOf(instance), { maxNewTokens, temperature: 0, stop: promptStopStrings });
    total += rougeL(result.text.trim(), instance.output);
    onEach?.();
  }
  return (total / test.length) * 100;
}

export function createLoraLearner(model: Model, options: LoraLearnerOptions): LoraLearner {
  const stageLosses: number[][] = [];
  return {
    stageLosses,
    async trainStage(instances, stage) {
      model.setActiveAdapter(options.adapter);
      const losses: number[] = [];
      await train(
        model,
        // Answers end with a newline and no EOS, as the suite's model was pretrained (see formatResponse).
        instances.map((instance) => ({ prompt: promptOf(instance), response: formatResponse(instance.output) })),
        {
          mode: "lora",
          appendEos: false,
          epochs: options.epochs,
          batchSize: options.batchSize,
          lr: options.learningRate,
          warmup: 0,
          seed: options.seed + stage,
          onStep: (info) => {
            losses.push(info.loss);
            options.onStep?.(info.loss);
            options.checkInterrupted?.();
          },
        },
      );
      stageLosses.push(losses);
      return { losses };
    },
    async evaluate(test) {
      model.setActiveAdapter(options.adapter);
      return scoreOn(model, test, options.maxNewTokens, options.onEvaluated);
    },
  };
}
