import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "components/**/*.test.ts", "policy/**/*.test.ts"],
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
  },
});
