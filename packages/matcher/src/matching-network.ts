// The PILLOW matching network. A pool MLP maps each pool entry's embedding e_p to z_p; a state MLP
// maps x_t = [query embedding; mean embedding of the prompts chosen so far; one-hot step t] to s_t;
// the score of entry p at step t is s_t · z_p + Σ_f w_f · feature_f(query, p) (candidate features,
// candidate-features.ts, each with a learned weight w_f), and s_t · z_stop for the optional STOP action.
// Chosen entries and entries that would overflow the context budget are masked; a softmax over the
// rest gives the policy. Selection runs for `steps` steps (or until STOP / nothing fits).
//
// Both MLPs are two layers with tanh (smooth, so finite differences check the hand-written
// gradients). Parameters are float64: the network is tiny, and float64 makes gradient checks and
// save/load round trips exact.

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CheckpointError } from "@pillow/core";
import { type CandidateFeatureName, candidateFeatureNames, isCandidateFeatureName } from "./candidate-features.js";
import { MatcherError } from "./errors.js";
import { createRandom, type Random } from "./random.js";
import { readSafetensorsFile, writeSafetensorsFile } from "./safetensors.js";

export type MatchingNetworkOptions = {
  embedDim: number;
  /** Width of both MLPs' hidden layer and of z_p / s. Default 64. */
  hidden?: number;
  /** Prompts chosen per query (m). Default 3. */
  steps?: number;
  /** Adds a STOP action so fewer than m prompts can be chosen. Default false. */
  allowStop?: boolean;
  seed?: number;
  /** L2-normalise embeddings before the MLPs (embedders differ wildly in scale). Default true. */
  normalizeInputs?: boolean;
  /**
   * Candidate features added to every entry's score, each with a learned weight initialised to the
   * value given here: e.g. `{ cosine: 20 }` starts the policy near kNN's ranking. Absent features
   * are not used (the plain PILLOW network has none). Their values come from a
   * CandidateFeatureSpace through SelectOptions.features.
   */
  features?: Partial<Record<CandidateFeatureName, number>>;
};

export type MatchingNetworkConfig = Required<Omit<MatchingNetworkOptions, "features">> & {
  /** Initial weight per used feature, in candidateFeatureNames order. */
  features: Partial<Record<CandidateFeatureName, number>>;
};

/** The version `save` writes into config.json; `load` refuses other versions. */
export const MATCHER_FORMAT_VERSION = 2;

export type ContextBudget = {
  /** Total tokens the chosen demonstrations may use. */
  limit: number;
  /** Token cost of each pool entry (PromptPool.tokenCosts()). */
  costs: ArrayLike<number>;
  /** Tokens already used (e.g. by the query itself). */
  used?: number;
};

export type SelectOptions = {
  mode?: "greedy" | "sample";
  seed?: number;
  /** Used instead of `seed` when given (the trainer shares one stream). */
  random?: Random;
  budget?: ContextBudget;
  /** [pool size × featureNames.length] candidate features of this query (CandidateFeatureSpace.compute). */
  features?: ArrayLike<number>;
};

export type Selection = { ids: number[]; logProb: number; stopped: boolean };

/** Anything with one embedding per pool entry (a PromptPool after `embed`). */
export type EmbeddedPool = { readonly embeddings: readonly ArrayLike<number>[] };

/** The pool side of the network, computed once per parameter version and shared by all queries. */
export type PoolEncoding = {
  size: number;
  /** [size × embedDim] (normalised) inputs. */
  inputs: Float64Array;
  /** [size × hidden] tanh activations of the first layer. */
  hiddenActivations: Float64Array;
  /** [size × hidden] z_p. */
  outputs: Float64Array;
  /** [size × hidden] accumulated d(objective)/d z_p, consumed by backwardPool. */
  outputGradients: Float64Array;
  version: number;
};

export type SelectionStep = {
  stateInput: Float64Array;
  stateHidden: Float64Array;
  state: Float64Array;
  /** Pool indices that could be chosen at this step; -1 stands for STOP. */
  candidates: Int32Array;
  probabilities: Float64Array;
  /** [candidates × features] feature values (0 for STOP); undefined without features. */
  features: Float64Array | undefined;
  /** Position in `candidates` of the action taken. */
  choice: number;
  logProb: number;
  entropy: number;
};

export type SelectionTrace = Selection & { steps: SelectionStep[] };

export type TensorSlot = { name: string; shape: number[]; offset: number; size: number };

const STOP = -1;

export class MatchingNetwork {
  readonly config: MatchingNetworkConfig;
  readonly layout: readonly TensorSlot[];
  readonly parameters: Float64Array;
  readonly gradients: Float64Array;
  /** Bumped by every parameter change so cached pool encodings are recomputed. */
  version = 0;
  private readonly slots: Record<string, TensorSlot>;
  private readonly encodingCache = new WeakMap<object, PoolEncoding>();

  constructor(options: MatchingNetworkOptions) {
    this.config = validateOptions(options);
    const { embedDim, hidden, steps, allowStop } = this.config;
    const shapes: [string, number[]][] = [
      ["pool.layer1.weight", [hidden, embedDim]],
      ["pool.layer1.bias", [hidden]],
      ["pool.layer2.weight", [hidden, hidden]],
      ["pool.layer2.bias", [hidden]],
      ["state.layer1.weight", [hidden, this.stateDimension]],
      ["state.layer1.bias", [hidden]],
      ["state.layer2.weight", [hidden, hidden]],
      ["state.layer2.bias", [hidden]],
    ];
    if (allowStop) shapes.push(["stop", [hidden]]);
    if (this.featureNames.length > 0) shapes.push(["features.weight", [this.featureNames.length]]);
    let offset = 0;
    this.layout = shapes.map(([name, shape]) => {
      const size = shape.reduce((product, value) => product * value, 1);
      const slot = { name, shape, offset, size };
      offset += size;
      return slot;
    });
    this.slots = Object.fromEntries(this.layout.map((slot) => [slot.name, slot]));
    this.parameters = new Float64Array(offset);
    this.gradients = new Float64Array(offset);
    void steps;
    this.initialise(createRandom(this.config.seed));
    if (this.featureNames.length > 0)
      this.tensor("features.weight").set(this.featureNames.map((name) => this.config.features[name]!));
  }

  /** The candidate features this network scores with, in the order of its feature weights. */
  get featureNames(): CandidateFeatureName[] {
    return candidateFeatureNames.filter((name) => this.config.features[name] !== undefined);
  }

  get stateDimension(): number {
    return 2 * this.config.embedDim + this.config.steps;
  }

  /** A view of one named tensor inside `parameters` (or `gradients`). */
  tensor(name: string, of: "parameters" | "gradients" = "parameters"): Float64Array {
    const slot = this.slots[name];
    if (!slot) throw new RangeError(`MatchingNetwork.tensor: no tensor named "${name}"`);
    return this[of].subarray(slot.offset, slot.offset + slot.size);
  }

  private initialise(random: Random): void {
    // Xavier-uniform weights, zero biases, zero STOP vector (STOP starts with score 0).
    for (const slot of this.layout) {
      if (slot.shape.length !== 2) continue;
      const [fanOut, fanIn] = slot.shape;
      const bound = Math.sqrt(6 / (fanIn + fanOut)) * (slot.name.includes("layer2") ? 0.5 : 1);
      const view = this.tensor(slot.name);
      for (let i = 0; i < view.length; i++) view[i] = (2 * random.next() - 1) * bound;
    }
  }

  /** Call after changing `parameters` in place (the optimiser does). */
  parametersChanged(): void {
    this.version++;
  }

  zeroGradients(): void {
    this.gradients.fill(0);
  }

  /** Runs the pool MLP over every entry. Fresh object: its gradient buffer belongs to the caller. */
  encodePool(pool: EmbeddedPool): PoolEncoding {
    const embeddings = poolEmbeddings(pool);
    const { embedDim, hidden } = this.config;
    const size = embeddings.length;
    if (size === 0) throw new RangeError("MatchingNetwork: the pool is empty");
    const inputs = new Float64Array(size * embedDim);
    embeddings.forEach((vector, index) => {
      if (vector.length !== embedDim) {
        throw new RangeError(
          `MatchingNetwork: pool embedding ${index} has length ${vector.length}, expected embedDim ${embedDim}`,
        );
      }
      this.prepareInput(vector, inputs.subarray(index * embedDim, (index + 1) * embedDim));
    });
    const hiddenActivations = new Float64Array(size * hidden);
    const outputs = new Float64Array(size * hidden);
    const w1 = this.tensor("pool.layer1.weight");
    const b1 = this.tensor("pool.layer1.bias");
    const w2 = this.tensor("pool.layer2.weight");
    const b2 = this.tensor("pool.layer2.bias");
    for (let p = 0; p < size; p++) {
      const input = inputs.subarray(p * embedDim, (p + 1) * embedDim);
      const activation = hiddenActivations.subarray(p * hidden, (p + 1) * hidden);
      mlpForward(w1, b1, w2, b2, input, activation, outputs.subarray(p * hidden, (p + 1) * hidden));
    }
    return {
      size,
      inputs,
      hiddenActivations,
      outputs,
      outputGradients: new Float64Array(size * hidden),
      version: this.version,
    };
  }

  /** Encoding cached per pool embedding array and parameter version (inference path). */
  private cachedEncoding(pool: EmbeddedPool): PoolEncoding {
    const key = poolEmbeddings(pool) as object;
    const cached = this.encodingCache.get(key);
    if (cached && cached.version === this.version) return cached;
    const encoding = this.encodePool(pool);
    this.encodingCache.set(key, encoding);
    return encoding;
  }

  select(queryEmbedding: ArrayLike<number>, pool: EmbeddedPool, options: SelectOptions = {}): Selection {
    const { ids, logProb, stopped } = this.trace(queryEmbedding, this.cachedEncoding(pool), options);
    return { ids, logProb, stopped };
  }

  /**
   * Runs the policy and keeps every intermediate needed for the backward pass. With `forced`, the
   * given trajectory is replayed (for its log-probability under the current parameters).
   */
  trace(
    queryEmbedding: ArrayLike<number>,
    encoding: PoolEncoding,
    /** `forced.partial`: the trajectory is a prefix; the trace ends after its ids without STOP (imitation of a shorter choice). */
    options: SelectOptions & { forced?: { ids: readonly number[]; stopped: boolean; partial?: boolean } } = {},
  ): SelectionTrace {
    const { embedDim, hidden, steps, allowStop } = this.config;
    if (!queryEmbedding || queryEmbedding.length !== embedDim) {
      throw new RangeError(
        `MatchingNetwork: the query embedding has length ${queryEmbedding?.length}, expected embedDim ${embedDim}`,
      );
    }
    const mode = options.mode ?? "greedy";
    if (mode !== "greedy" && mode !== "sample")
      throw new RangeError(
        `MatchingNetwork.select: options.mode must be "greedy" or "sample", got "${mode}" (unknown mode)`,
      );
    const random = options.random ?? createRandom(options.seed ?? 0);
    const budget = options.budget;
    if (budget) validateBudget(budget, encoding.size);
    const forced = options.forced;

    const query = new Float64Array(embedDim);
    this.prepareInput(queryEmbedding, query);
    const chosenSum = new Float64Array(embedDim);
    const isChosen = new Uint8Array(encoding.size);
    const ids: number[] = [];
    const trace: SelectionStep[] = [];
    let used = budget?.used ?? 0;
    let logProb = 0;
    let stopped = false;
    const w1 = this.tensor("state.layer1.weight");
    const b1 = this.tensor("state.layer1.bias");
    const w2 = this.tensor("state.layer2.weight");
    const b2 = this.tensor("state.layer2.bias");
    const stopVector = allowStop ? this.tensor("stop") : undefined;
    const featureCount = this.featureNames.length;
    const featureWeights = featureCount > 0 ? this.tensor("features.weight") : undefined;
    const featureMatrix = options.features;
    if (featureCount > 0) {
      if (!featureMatrix || featureMatrix.length !== encoding.size * featureCount) {
        throw new RangeError(
          `MatchingNetwork: this network scores with features [${this.featureNames}]: pass options.features with ${encoding.size} × ${featureCount} values (CandidateFeatureSpace.compute), got ${featureMatrix?.length ?? "none"}`,
        );
      }
    }

    for (let step = 0; step < steps; step++) {
      const candidateList: number[] = [];
      for (let p = 0; p < encoding.size; p++) {
        if (isChosen[p]) continue;
        if (budget && used + budget.costs[p] > budget.limit) continue;
        candidateList.push(p);
      }
      // Nothing left that fits: the selection ends here with no decision (and no log-probability).
      if (candidateList.length === 0) break;
      if (forced && step >= forced.ids.length && !forced.stopped) {
        if (forced.partial) break;
        throw new RangeError(
          `MatchingNetwork: options.forced: trajectory [${forced.ids}] ends at step ${step} without STOP while entries remain`,
        );
      }
      if (allowStop) candidateList.push(STOP);
      const candidates = Int32Array.from(candidateList);

      const stateInput = new Float64Array(this.stateDimension);
      stateInput.set(query, 0);
      if (ids.length > 0) for (let d = 0; d < embedDim; d++) stateInput[embedDim + d] = chosenSum[d] / ids.length;
      stateInput[2 * embedDim + step] = 1;
      const stateHidden = new Float64Array(hidden);
      const state = new Float64Array(hidden);
      mlpForward(w1, b1, w2, b2, stateInput, stateHidden, state);

      const probabilities = new Float64Array(candidates.length);
      const features = featureCount > 0 ? new Float64Array(candidates.length * featureCount) : undefined;
      let maximum = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < candidates.length; c++) {
        const p = candidates[c];
        const z = p === STOP ? stopVector! : encoding.outputs.subarray(p * hidden, (p + 1) * hidden);
        let score = 0;
        for (let h = 0; h < hidden; h++) score += state[h] * z[h];
        if (features && p !== STOP) {
          for (let f = 0; f < featureCount; f++) {
            const value = featureMatrix![p * featureCount + f];
            features[c * featureCount + f] = value;
            score += featureWeights![f] * value;
          }
        }
        probabilities[c] = score;
        if (score > maximum) maximum = score;
      }
      let total = 0;
      for (let c = 0; c < candidates.length; c++) {
        probabilities[c] = Math.exp(probabilities[c] - maximum);
        total += probabilities[c];
      }
      let entropy = 0;
      for (let c = 0; c < candidates.length; c++) {
        probabilities[c] /= total;
        if (probabilities[c] > 0) entropy -= probabilities[c] * Math.log(probabilities[c]);
      }

      let choice: number;
      if (forced) {
        const wanted = step < forced.ids.length ? forced.ids[step] : STOP;
        choice = candidates.indexOf(wanted);
        if (choice < 0)
          throw new RangeError(
            `MatchingNetwork: options.forced: action ${wanted === STOP ? "STOP" : wanted} is not available at step ${step}`,
          );
      } else if (mode === "greedy") {
        choice = 0;
        for (let c = 1; c < candidates.length; c++) if (probabilities[c] > probabilities[choice]) choice = c;
      } else {
        let threshold = random.next();
        choice = candidates.length - 1;
        for (let c = 0; c < candidates.length; c++) {
          threshold -= probabilities[c];
          if (threshold < 0) {
            choice = c;
            break;
          }
        }
      }
      const stepLogProb = Math.log(probabilities[choice]);
      logProb += stepLogProb;
      trace.push({
        stateInput,
        stateHidden,
        state,
        candidates,
        probabilities,
        features,
        choice,
        logProb: stepLogProb,
        entropy,
      });

      const action = candidates[choice];
      if (action === STOP) {
        stopped = true;
        break;
      }
      ids.push(action);
      isChosen[action] = 1;
      used += budget ? budget.costs[action] : 0;
      const input = encoding.inputs.subarray(action * embedDim, (action + 1) * embedDim);
      for (let d = 0; d < embedDim; d++) chosenSum[d] += input[d];
    }
    if (
      forced &&
      (forced.ids.length !== ids.length || (forced.stopped !== stopped && !(forced.partial && !forced.stopped)))
    ) {
      throw new RangeError(
        `MatchingNetwork: options.forced: trajectory [${forced.ids}] (stopped=${forced.stopped}) cannot be replayed`,
      );
    }
    return { ids, logProb, stopped, steps: trace };
  }

  /**
   * Adds to `gradients` (state MLP, STOP) and to `encoding.outputGradients` (d/dz_p) the gradient of
   *   Σ_t logProbWeight[t] · log π(a_t | state_t) + entropyWeight[t] · H(π(· | state_t)).
   * Call `backwardPool(encoding)` once after all traces of an update to finish the pool MLP.
   */
  accumulateGradients(
    trace: SelectionTrace,
    encoding: PoolEncoding,
    logProbWeights: number | readonly number[],
    entropyWeights: number | readonly number[] = 0,
  ): void {
    const { hidden } = this.config;
    const w2 = this.tensor("state.layer2.weight");
    const gw1 = this.tensor("state.layer1.weight", "gradients");
    const gb1 = this.tensor("state.layer1.bias", "gradients");
    const gw2 = this.tensor("state.layer2.weight", "gradients");
    const gb2 = this.tensor("state.layer2.bias", "gradients");
    const stopVector = this.config.allowStop ? this.tensor("stop") : undefined;
    const stopGradient = this.config.allowStop ? this.tensor("stop", "gradients") : undefined;
    const stateGradient = new Float64Array(hidden);
    const featureCount = this.featureNames.length;
    const featureGradient = featureCount > 0 ? this.tensor("features.weight", "gradients") : undefined;

    trace.steps.forEach((step, t) => {
      const logProbWeight = typeof logProbWeights === "number" ? logProbWeights : logProbWeights[t];
      const entropyWeight = typeof entropyWeights === "number" ? entropyWeights : entropyWeights[t];
      if (logProbWeight === 0 && entropyWeight === 0) return;
      stateGradient.fill(0);
      const { candidates, probabilities, state } = step;
      for (let c = 0; c < candidates.length; c++) {
        const probability = probabilities[c];
        // d log π(a)/d score_c = [c = a] − π_c ;  d H/d score_c = −π_c (log π_c + H)
        let scoreGradient = logProbWeight * ((c === step.choice ? 1 : 0) - probability);
        if (probability > 0) scoreGradient -= entropyWeight * probability * (Math.log(probability) + step.entropy);
        if (scoreGradient === 0) continue;
        if (featureGradient && step.features) {
          for (let f = 0; f < featureCount; f++)
            featureGradient[f] += scoreGradient * step.features[c * featureCount + f];
        }
        const p = candidates[c];
        const z = p === STOP ? stopVector! : encoding.outputs.subarray(p * hidden, (p + 1) * hidden);
        const zGradient = p === STOP ? stopGradient! : encoding.outputGradients.subarray(p * hidden, (p + 1) * hidden);
        for (let h = 0; h < hidden; h++) {
          stateGradient[h] += scoreGradient * z[h];
          zGradient[h] += scoreGradient * state[h];
        }
      }
      mlpBackward(w2, gw1, gb1, gw2, gb2, step.stateInput, step.stateHidden, stateGradient);
    });
  }

  /** Back-propagates the accumulated d/dz_p through the pool MLP and clears them. */
  backwardPool(encoding: PoolEncoding): void {
    const { embedDim, hidden } = this.config;
    const w2 = this.tensor("pool.layer2.weight");
    const gw1 = this.tensor("pool.layer1.weight", "gradients");
    const gb1 = this.tensor("pool.layer1.bias", "gradients");
    const gw2 = this.tensor("pool.layer2.weight", "gradients");
    const gb2 = this.tensor("pool.layer2.bias", "gradients");
    for (let p = 0; p < encoding.size; p++) {
      const outputGradient = encoding.outputGradients.subarray(p * hidden, (p + 1) * hidden);
      if (outputGradient.every((value) => value === 0)) continue;
      mlpBackward(
        w2,
        gw1,
        gb1,
        gw2,
        gb2,
        encoding.inputs.subarray(p * embedDim, (p + 1) * embedDim),
        encoding.hiddenActivations.subarray(p * hidden, (p + 1) * hidden),
        outputGradient,
      );
    }
    encoding.outputGradients.fill(0);
  }

  private prepareInput(vector: ArrayLike<number>, into: Float64Array): void {
    let squared = 0;
    for (let d = 0; d < into.length; d++) {
      const value = vector[d];
      if (!Number.isFinite(value)) throw new RangeError(`MatchingNetwork: embedding has a non-finite value at ${d}`);
      into[d] = value;
      squared += value * value;
    }
    if (this.config.normalizeInputs && squared > 0) {
      const scale = 1 / Math.sqrt(squared);
      for (let d = 0; d < into.length; d++) into[d] *= scale;
    }
  }

  async save(directory: string): Promise<void> {
    await mkdir(directory, { recursive: true });
    const tensors = Object.fromEntries(
      this.layout.map((slot) => [
        slot.name,
        { dtype: "F64" as const, shape: slot.shape, data: this.tensor(slot.name).slice() },
      ]),
    );
    await writeSafetensorsFile(join(directory, "model.safetensors"), tensors, { format: "pillow-matcher" });
    await writeFile(
      join(directory, "config.json"),
      `${JSON.stringify({ format: "pillow-matcher", version: MATCHER_FORMAT_VERSION, ...this.config }, null, 2)}\n`,
    );
  }

  static async load(directory: string): Promise<MatchingNetwork> {
    const configPath = join(directory, "config.json");
    let text: string;
    try {
      text = await readFile(configPath, "utf8");
    } catch (error) {
      throw new MatcherError("E_BUNDLE_FILE", `cannot read the matcher config: ${(error as Error).message}`, {
        file: configPath,
      });
    }
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(text);
    } catch (error) {
      throw new MatcherError("E_BUNDLE_JSON", `cannot read the matcher config: ${(error as Error).message}`, {
        file: configPath,
      });
    }
    if (config?.format !== "pillow-matcher") {
      throw new MatcherError("E_BUNDLE_FORMAT", `"format" is ${JSON.stringify(config?.format)}, not "pillow-matcher"`, {
        file: configPath,
        field: "format",
      });
    }
    if (config.version !== MATCHER_FORMAT_VERSION) {
      throw new MatcherError(
        "E_BUNDLE_VERSION",
        `matcher format version ${JSON.stringify(config.version)}, this pillow reads version ${MATCHER_FORMAT_VERSION}; train the matcher again (\`pillow match train\`)`,
        { file: configPath, field: "version" },
      );
    }
    const { format: _format, version: _version, ...options } = config;
    let network: MatchingNetwork;
    try {
      network = new MatchingNetwork(options as unknown as MatchingNetworkOptions);
    } catch (error) {
      // The options were checked as arguments; read from a file, a bad one is a field of that file.
      if (error instanceof MatcherError)
        throw new MatcherError(error.code, error.message, { file: configPath, field: error.field }, { cause: error });
      throw new MatcherError("E_BUNDLE_FIELD", (error as Error).message, { file: configPath }, { cause: error });
    }
    const weightsPath = join(directory, "model.safetensors");
    const { tensors } = await readSafetensorsFile(weightsPath);
    for (const slot of network.layout) {
      const tensor = tensors[slot.name];
      if (!tensor)
        throw new CheckpointError("E_MISSING_TENSOR", `tensor "${slot.name}" is missing`, { file: weightsPath });
      if (tensor.shape.join("x") !== slot.shape.join("x")) {
        throw new CheckpointError(
          "E_SHAPE",
          `tensor "${slot.name}" has shape [${tensor.shape}], config.json says [${slot.shape}]`,
          { file: weightsPath },
        );
      }
      network.tensor(slot.name).set(tensor.data);
    }
    network.parametersChanged();
    return network;
  }
}

/** output = W2 · tanh(W1 · input + b1) + b2, keeping the tanh activations for the backward pass. */
function mlpForward(
  w1: Float64Array,
  b1: Float64Array,
  w2: Float64Array,
  b2: Float64Array,
  input: ArrayLike<number>,
  activation: Float64Array,
  output: Float64Array,
): void {
  const hidden = b1.length;
  const inputSize = input.length;
  for (let h = 0; h < hidden; h++) {
    let sum = b1[h];
    const row = h * inputSize;
    for (let i = 0; i < inputSize; i++) {
      const value = input[i];
      if (value !== 0) sum += w1[row + i] * value;
    }
    activation[h] = Math.tanh(sum);
  }
  for (let o = 0; o < b2.length; o++) {
    let sum = b2[o];
    const row = o * hidden;
    for (let h = 0; h < hidden; h++) sum += w2[row + h] * activation[h];
    output[o] = sum;
  }
}

/** Accumulates weight/bias gradients of the MLP above given d(objective)/d output. */
function mlpBackward(
  w2: Float64Array,
  gw1: Float64Array,
  gb1: Float64Array,
  gw2: Float64Array,
  gb2: Float64Array,
  input: ArrayLike<number>,
  activation: Float64Array,
  outputGradient: Float64Array,
): void {
  const hidden = activation.length;
  const inputSize = input.length;
  const preActivationGradient = new Float64Array(hidden);
  for (let o = 0; o < outputGradient.length; o++) {
    const g = outputGradient[o];
    if (g === 0) continue;
    gb2[o] += g;
    const row = o * hidden;
    for (let h = 0; h < hidden; h++) {
      gw2[row + h] += g * activation[h];
      preActivationGradient[h] += g * w2[row + h];
    }
  }
  for (let h = 0; h < hidden; h++) {
    const g = preActivationGradient[h] * (1 - activation[h] * activation[h]);
    if (g === 0) continue;
    gb1[h] += g;
    const row = h * inputSize;
    for (let i = 0; i < inputSize; i++) {
      const value = input[i];
      if (value !== 0) gw1[row + i] += g * value;
    }
  }
}

function poolEmbeddings(pool: EmbeddedPool): readonly ArrayLike<number>[] {
  if (!pool || typeof pool !== "object") throw new TypeError("MatchingNetwork: pool must be an object with embeddings");
  const embeddings = pool.embeddings;
  if (!Array.isArray(embeddings)) throw new TypeError("MatchingNetwork: pool.embeddings must be an array of vectors");
  return embeddings;
}

function validateBudget(budget: ContextBudget, size: number): void {
  if (!Number.isFinite(budget.limit) || budget.limit < 0)
    throw new RangeError(`MatchingNetwork: budget.limit must be >= 0, got ${budget.limit}`);
  if (!budget.costs || budget.costs.length !== size) {
    throw new RangeError(`MatchingNetwork: budget.costs has ${budget.costs?.length} values for a pool of ${size}`);
  }
}

function validateOptions(options: MatchingNetworkOptions): MatchingNetworkConfig {
  if (typeof options !== "object" || options === null) throw new TypeError("MatchingNetwork: options are required");
  const config: MatchingNetworkConfig = {
    embedDim: options.embedDim,
    hidden: options.hidden ?? 64,
    steps: options.steps ?? 3,
    allowStop: options.allowStop ?? false,
    seed: options.seed ?? 0,
    normalizeInputs: options.normalizeInputs ?? true,
    features: validateFeatures(options.features),
  };
  for (const key of ["embedDim", "hidden", "steps"] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 1) {
      throw new RangeError(`MatchingNetwork: ${key} must be a positive integer, got ${config[key]}`);
    }
  }
  if (typeof config.allowStop !== "boolean") throw new TypeError("MatchingNetwork: allowStop must be a boolean");
  if (!Number.isFinite(config.seed))
    throw new RangeError(`MatchingNetwork: seed must be a finite number, got ${config.seed}`);
  return config;
}

function validateFeatures(features: MatchingNetworkOptions["features"]): MatchingNetworkConfig["features"] {
  if (features === undefined) return {};
  if (typeof features !== "object" || features === null || Array.isArray(features)) {
    throw new TypeError("MatchingNetwork: features must be an object { featureName: initialWeight }");
  }
  const result: MatchingNetworkConfig["features"] = {};
  for (const [name, weight] of Object.entries(features)) {
    if (!isCandidateFeatureName(name)) {
      throw new MatcherError(
        "E_UNKNOWN_NAME",
        `MatchingNetwork: unknown feature "${name}" (use ${candidateFeatureNames.join(", ")})`,
        { field: `features.${name}` },
      );
    }
    if (weight === undefined) continue;
    if (typeof weight !== "number" || !Number.isFinite(weight))
      throw new RangeError(`MatchingNetwork: features.${name} must be a finite number, got ${weight}`);
  }
  // Canonical order, so saved configs compare equal.
  for (const name of candidateFeatureNames) if (features[name] !== undefined) result[name] = features[name];
  return result;
}
