/**
 * The test files that take longest (each runs many step scripts or whole pipelines), slowest first,
 * measured on the 2-core machine. Vitest starts the files it has timings of longest first; on a fresh
 * clone it has none and starts the largest first, which left a small but slow file
 * (test/e2e/failures.test.ts) to run alone at the end. vitest.config.mts starts these first then.
 */
export const SLOWEST_TEST_FILES: readonly string[] = [
  "test/deploy/deploy.test.ts",
  "test/e2e/failures.test.ts",
  "test/deploy/image.test.ts",
  "test/acceptance/trust.test.ts",
  "test/e2e/pipeline.test.ts",
  "test/lifecycle/pr-close-sweep.test.ts",
  "test/steps/set-params.test.ts",
  "test/acceptance/acceptance.test.ts",
  "test/workflow/parameters.test.ts",
  "test/lifecycle/ttl-sweep.test.ts",
];
