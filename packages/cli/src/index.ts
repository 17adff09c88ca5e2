export { collectInfo, formatInfo, type InfoReport } from "./info.js";
export { createProgram } from "./program.js";
