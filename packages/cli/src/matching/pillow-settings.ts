// The PILLOW method's settings as `match compare`, `match train` and the demo use them. Defaults were
// chosen on the suite's validation queries (packages/rl/README.md, "what each lever was worth").
import { type CandidateFeatureName, candidateFeatureNames } from "@pillow/matcher";
import type { CompareOptions, RolloutReward, WarmStartTeacher } from "@pillow/rl";
import { usageError } from "../cli-error.js";

export type PillowSettings = {
  reward: "loglik" | "rougeL";
  features: CandidateFeatureName[];
  warmStart: WarmStartTeacher | "off";
  warmStartEpochs: number;
  /** The reward that decides the per-query / per-instruction teacher. */
  teacherReward: "loglik" | "rougeL";
  /** The teacher also weighs each baseline's first 1 … k − 1 choices (then STOP). */
  teacherPrefixes: boolean;
  allowStop: boolean;
  steps: number;
  samplesPerQuery: number;
  queriesPerStep: number;
  lr: number;
  entropy: number;
  hidden: number;
  validationEvery: number;
};

export const defaultPillowSettings: PillowSettings = {
  reward: "loglik",
  features: [...candidateFeatureNames],
  warmStart: "best-per-instruction",
  warmStartEpochs: 15,
  teacherReward: "rougeL",
  teacherPrefixes: true,
  allowStop: true,
  steps: 30,
  samplesPerQuery: 4,
  queriesPerStep: 8,
  lr: 0.003,
  entropy: 0.001,
  hidden: 32,
  validationEvery: 15,
};

export function parseFeatures(value: string): CandidateFeatureName[] {
  if (value === "none") return [];
  const names = value.split(",").filter(Boolean);
  for (const name of names) {
    if (!(candidateFeatureNames as readonly string[]).includes(name)) {
      throw usageError(
        `--features: unknown feature "${name}"`,
        `use a comma-separated list of ${candidateFeatureNames.join(", ")}, or none`,
      );
    }
  }
  return names as CandidateFeatureName[];
}

export function parseWarmStart(value: string): WarmStartTeacher | "off" {
  const allowed = ["best-per-instruction", "best-per-query", "best-baseline", "bm25", "knn", "off"];
  if (!allowed.includes(value))
    throw usageError(`--warm-start: unknown teacher "${value}"`, `use one of ${allowed.join(", ")}`);
  return value as WarmStartTeacher | "off";
}

export function parseReward(value: string): "loglik" | "rougeL" {
  if (value !== "loglik" && value !== "rougeL")
    throw usageError(`--reward: unknown reward "${value}"`, "use loglik or rougeL");
  return value;
}

export function parseSeeds(value: string): number[] {
  const seeds = value.split(",").map((part) => Number(part.trim()));
  if (seeds.length === 0 || seeds.some((seed) => !Number.isInteger(seed) || seed < 0)) {
    throw usageError(`--seeds expects comma-separated non-negative integers, got "${value}"`);
  }
  return seeds;
}

/** The learned-weight initial values: 1 for every feature; the warm start sets them from data. */
export function compareOptionsFor(
  settings: PillowSettings,
  hasValidation: boolean,
): Pick<CompareOptions, "reward" | "matcher" | "training" | "warmStart" | "validationEvery"> {
  const needsValidation = settings.warmStart === "best-baseline";
  if (needsValidation && !hasValidation)
    throw usageError("--warm-start best-baseline chooses the baseline on validation queries", "pass --validation FILE");
  return {
    reward: settings.reward as RolloutReward,
    matcher: {
      hidden: settings.hidden,
      allowStop: settings.allowStop,
      features: Object.fromEntries(settings.features.map((name) => [name, 1])),
    },
    training: {
      steps: settings.steps,
      samplesPerQuery: settings.samplesPerQuery,
      queriesPerStep: settings.queriesPerStep,
      lr: settings.lr,
      entropy: settings.entropy,
    },
    warmStart:
      settings.warmStart === "off"
        ? undefined
        : {
            teacher: settings.warmStart,
            epochs: settings.warmStartEpochs,
            reward: settings.teacherReward,
            prefixes: settings.teacherPrefixes,
          },
    validationEvery: hasValidation && settings.validationEvery > 0 ? settings.validationEvery : undefined,
  };
}
