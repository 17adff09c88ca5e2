// Adam (Kingma & Ba 2015) over one flat parameter vector, ascending an objective (the trainer
// maximises expected reward, so the update adds the step instead of subtracting it).

import { RlError } from "./errors.js";

export type AdamOptions = { lr: number; beta1?: number; beta2?: number; epsilon?: number; maxGradientNorm?: number };

export class Adam {
  readonly lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly maxGradientNorm: number | undefined;
  private readonly firstMoment: Float64Array;
  private readonly secondMoment: Float64Array;
  private stepCount = 0;

  constructor(size: number, options: AdamOptions) {
    if (!(options.lr > 0)) throw new RangeError(`Adam: lr must be positive, got ${options.lr}`);
    this.lr = options.lr;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.maxGradientNorm = options.maxGradientNorm;
    this.firstMoment = new Float64Array(size);
    this.secondMoment = new Float64Array(size);
  }

  /** parameters += lr · m̂ / (√v̂ + ε); returns the gradient norm before clipping. */
  ascend(parameters: Float64Array, gradients: Float64Array): number {
    let squared = 0;
    for (let i = 0; i < gradients.length; i++) squared += gradients[i] * gradients[i];
    const norm = Math.sqrt(squared);
    if (!Number.isFinite(norm))
      throw new RlError(
        "E_NONFINITE_GRADIENT",
        "Adam: the gradient is not finite (training diverged; lower the learning rate)",
      );
    const scale = this.maxGradientNorm !== undefined && norm > this.maxGradientNorm ? this.maxGradientNorm / norm : 1;
    this.stepCount++;
    const correction1 = 1 - this.beta1 ** this.stepCount;
    const correction2 = 1 - this.beta2 ** this.stepCount;
    for (let i = 0; i < parameters.length; i++) {
      const g = gradients[i] * scale;
      this.firstMoment[i] = this.beta1 * this.firstMoment[i] + (1 - this.beta1) * g;
      this.secondMoment[i] = this.beta2 * this.secondMoment[i] + (1 - this.beta2) * g * g;
      parameters[i] +=
        (this.lr * (this.firstMoment[i] / correction1)) /
        (Math.sqrt(this.secondMoment[i] / correction2) + this.epsilon);
    }
    return norm;
  }
}
