export { collectInfo, formatInfo, type InfoReport } from "./info.js";
export { createProgram } from "./program.js";
export { createServeApp, resolveModel, type ServeApp, type ServeAppOptions } from "./server/app.js";
export { formatDemosAlpaca, type DemoFormatter } from "./server/demos.js";
export type {
  ChatMessage,
  Demo,
  DemoSelector,
  EngineChunk,
  EngineRequest,
  EngineResult,
  ServeEngine,
} from "./server/engine.js";
export { startServer, type ListenOptions, type RunningServer } from "./server/listen.js";
export { createNativeEngine, type NativeEngineOptions } from "./server/native-engine.js";
export { createScriptedEngine, type ScriptedEngine } from "./server/scripted-engine.js";
export { demoCharts, renderSvg, type Chart } from "./report/charts.js";
export { findChromium, screenshot } from "./report/chromium.js";
export { decodePng, type DecodedPng } from "./report/png.js";
export {
  collectNumbers,
  type DemoSummary,
  demoSummarySchema,
  type MatchingSummary,
  type StrategySummary,
} from "./report/summary.js";
export { syntheticSummary } from "./report/synthetic-summary.js";
export { writeFileAtomic, writeReport, type WrittenReport } from "./report/write-report.js";
