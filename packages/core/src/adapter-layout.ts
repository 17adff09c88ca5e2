// Which layers and linear modules a LoRA config adapts, and the in-features of each module: the
// shapes every adapter path (new, copied, loaded from PEFT, saved) agrees on.
import type { ModelConfig } from "./config.js";
import { ModelError } from "./errors.js";
import { isLoraTarget, LINEAR_MODULES, type LinearModule, type LoraConfig } from "./peft.js";

export function linearInFeatures(config: ModelConfig, module: LinearModule): number {
  if (module === "o_proj") return config.numHeads * config.headDim;
  if (module === "down_proj") return config.intermediateSize;
  return config.hiddenSize;
}

/** The layers a LoRA config adapts, or undefined for all (throws for a selection native cannot hold). */
export function adaptedLayers(
  config: ModelConfig,
  lora: LoraConfig,
  source: string,
): { modules: LinearModule[]; layers?: number[] } {
  const modules = LINEAR_MODULES.filter((module) =>
    Array.from({ length: config.numLayers }, (_, l) => l).some((l) => isLoraTarget(lora, l, module)),
  );
  const layers = Array.from({ length: config.numLayers }, (_, l) => l).filter((l) =>
    modules.some((module) => isLoraTarget(lora, l, module)),
  );
  for (const l of layers) {
    for (const module of modules) {
      if (!isLoraTarget(lora, l, module)) {
        throw new ModelError(
          "E_UNSUPPORTED",
          `${source}: the adapter targets ${module} in some layers but not in layer ${l}; pillow needs the same modules in every adapted layer`,
        );
      }
    }
  }
  if (modules.length === 0)
    throw new ModelError("E_ARGUMENT", `${source}: the adapter targets no linear module of this model`);
  return { modules, layers: layers.length === config.numLayers ? undefined : layers };
}

/** The layers an adapter selection covers: the listed ones, or every layer when undefined. */
export function adaptedLayerIndices(config: ModelConfig, layers: number[] | undefined): number[] {
  return layers ?? Array.from({ length: config.numLayers }, (_, l) => l);
}
