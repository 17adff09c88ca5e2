export type {
  AddonTypes,
  BackendInfo,
  CpuIsa,
  EarthMoversDistanceResult,
  LoraAdapter,
  LoraGradients,
  LoraShape,
  MatmulShape,
  NativeAdamWOptions,
  NativeErrorCode,
  NativeForwardOptions,
  NativeSequenceStep,
  NativeLlamaModel,
  NativeLlamaModelConstructor,
  NativeLoraModule,
  NativeLossAndGradOptions,
  NativeModelConfig,
  NativeModelOptions,
  NativeTrainMode,
  PairwiseCostMetric,
  PairwiseCostShape,
  SampleResult,
  SampleShape,
} from "./AddonTypes.js";
export { Bf16Array, bf16, fromBf16, isBf16Array, toBf16 } from "./bf16.js";
export { NATIVE_ERROR_CODES } from "./AddonTypes.js";
export { DEVICES, type Device, type DeviceOptions, type OutputOptions, resolveDevice } from "./device.js";
export { BUILD_COMMAND, KernelError, type LoadAttempt, NativeAddonNotFoundError } from "./errors.js";
export {
  backendInfo,
  earthMoversDistance,
  hasEarthMoversDistance,
  matmul,
  matmulAsync,
  pairwiseCost,
  quantizedMatvecQ4_0,
  quantizedMatvecQ4_K,
  quantizedMatvecQ8_0,
  setThreads,
} from "./kernels.js";
export { candidateAddonPaths, loadAddon } from "./loader.js";
export {
  loraMatmul,
  loraMatmulAsync,
  loraMatmulBackward,
  loraMatmulBackwardAsync,
  loraMatmulMulti,
  loraMatmulMultiAsync,
  type Weight,
} from "./lora.js";
export {
  type ReferenceSamplingOptions,
  referenceLoraMatmul,
  referenceLoraMatmulBackward,
  referenceLoraMatmulMulti,
  referenceMatmul,
  referencePenalisedLogit,
  referenceSample,
  referenceSamplingDistribution,
  referenceSplitmix64,
  referenceUniform,
} from "./reference.js";
export { type SamplingOptions, sample, sampleAsync } from "./sample.js";
