import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "components/**/*.test.ts", "policy/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // The offline render runs once here and reaches every file through provide/inject.
    globalSetup: ["test/global-setup.ts"],
  },
});
