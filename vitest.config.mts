import * as path from "node:path";
import { defineConfig } from "vitest/config";

/** The step image's jq, built by .ci/jq (scripts/tools.ts STEP_JQ_DIR): first on every step's PATH. */
const STEP_JQ_DIR = path.join(__dirname, ".cache", "tools", "jq");

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "components/**/*.test.ts", "policy/**/*.test.ts"],
    env: { PATH: [STEP_JQ_DIR, process.env.PATH].join(path.delimiter) },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Most of a test's time is spent waiting for the step scripts it runs (bash, jq, curl, the
    // stand-ins), so more workers than cores keep both cores busy.
    maxWorkers: 3,
    // A test file's imports (the Pulumi runtime, the Kubernetes and Argo models, GitHub's REST
    // description) took longer than its tests: the files of a worker share them. Nothing in the
    // suite mocks modules, and the one shared value, the preview render, is frozen.
    isolate: false,
    // The offline render runs once here and reaches every file through provide/inject.
    globalSetup: ["test/global-setup.ts"],
    // Every test file: the fake apps' keys the global setup made.
    setupFiles: ["test/setup.ts"],
  },
});
