import { readFileSync } from "node:fs";
import * as path from "node:path";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Every test file, slowest first, as a run on the 2-core machine timed them (test/slowest-files.json;
 * test/suite-order.test.ts checks it names each test file once, and only those). Vitest starts the
 * files it has timings of longest first; on a fresh clone it has none and starts the largest first,
 * which left small but slow files to run alone at the end.
 */
const SLOWEST_TEST_FILES = JSON.parse(readFileSync(path.join(__dirname, "test", "slowest-files.json"), "utf8")) as string[];

/** Vitest's order when it has timings of every file; otherwise the slowest files first, then its order. */
class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const key = (f: TestSpecification) => path.relative(this.ctx.config.root, f.moduleId);
    if (sorted.every((f) => this.ctx.cache.getFileTestResults(`${f.project.name}:${key(f)}`))) return sorted;
    const rank = (f: TestSpecification) => {
      const at = SLOWEST_TEST_FILES.indexOf(key(f));
      return at < 0 ? SLOWEST_TEST_FILES.length : at;
    };
    return sorted.map((f, at) => ({ f, at })).sort((a, b) => rank(a.f) - rank(b.f) || a.at - b.at).map(({ f }) => f);
  }
}


export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "components/**/*.test.ts", "policy/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Most of a test's time is spent waiting for the step scripts it runs (bash, jq, curl, the
    // stand-ins), and some files wait on purpose (a build's polls, a server's stalls, retries), so
    // more workers than cores keep both cores busy: with three, two waiting files left a core idle.
    maxWorkers: 4,
    // A test file's imports (the Pulumi runtime, the Kubernetes and Argo models, GitHub's REST
    // description) took longer than its tests: the files of a worker share them. Nothing in the
    // suite mocks modules, and the one shared value, the preview render, is frozen.
    isolate: false,
    // The offline render runs once here and reaches every file through provide/inject.
    globalSetup: ["test/global-setup.ts"],
    sequence: { sequencer: SlowestFirst },
    // Every test file: the fake apps' keys the global setup made.
    setupFiles: ["test/setup.ts"],
  },
});
