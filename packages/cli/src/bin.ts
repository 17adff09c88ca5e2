#!/usr/bin/env node
import { createProgram } from "./program.js";

createProgram()
  .parseAsync(process.argv)
  .catch((error: Error & { code?: string }) => {
    console.error(`pillow: ${error.message}`);
    process.exit(1);
  });
