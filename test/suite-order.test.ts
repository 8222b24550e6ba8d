/** The list vitest.config.mts starts first on a fresh clone (test/slowest-files.json) names real test files. */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../scripts/offline-render";

describe("the suite's order", () => {
  it("names only test files that exist among those vitest starts first on a fresh clone", () => {
    const slowest = JSON.parse(readFileSync(path.join(PROJECT_ROOT, "test", "slowest-files.json"), "utf8")) as string[];
    expect(slowest.length).toBeGreaterThan(0);
    for (const file of slowest) expect(existsSync(path.join(PROJECT_ROOT, file)), file).toBe(true);
    expect(new Set(slowest).size).toBe(slowest.length);
  });
});
