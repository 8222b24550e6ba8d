/** The order vitest.config.mts starts the files in on a fresh clone (test/slowest-files.json) names every test file, once. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../scripts/offline-render";

const slowest = JSON.parse(readFileSync(path.join(PROJECT_ROOT, "test", "slowest-files.json"), "utf8")) as string[];

describe("the suite's order", () => {
  it("names only test files that exist, each once", () => {
    expect(slowest.length).toBeGreaterThan(0);
    for (const file of slowest) expect(existsSync(path.join(PROJECT_ROOT, file)), file).toBe(true);
    expect(new Set(slowest).size).toBe(slowest.length);
  });

  it("names every test file (vitest.config.mts's include), so none is left to start last", () => {
    const testFiles = ["test", "components", "policy"].flatMap((dir) =>
      (readdirSync(path.join(PROJECT_ROOT, dir), { recursive: true }) as string[])
        .filter((f) => f.endsWith(".test.ts")).map((f) => path.join(dir, f)));
    expect(testFiles.length).toBeGreaterThan(50);
    expect(testFiles.filter((f) => !slowest.includes(f))).toEqual([]);
  });
});
