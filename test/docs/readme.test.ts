import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../scripts/offline-render";
import { readmeWithReference, referenceRows } from "../../scripts/config-reference";

const readme = () => readFileSync(path.join(PROJECT_ROOT, "README.md"), "utf8");

describe("README", () => {
  it("carries the config reference exactly as generated from the schema (npm run docs:config)", () => {
    expect(readme()).toBe(readmeWithReference(readme()));
    expect(referenceRows().length).toBeGreaterThan(40);
  });

  it("gives a quick start of two commands: the offline render and the tests", () => {
    const quick = readme().split("## Quick start")[1].split("\n## ")[0];
    const block = quick.split("```sh\n")[1].split("```")[0].trim().split("\n");
    expect(block.map((l) => l.split("#")[0].trim())).toEqual(["npm ci && npm start", "bash .ci/run"]);
    const pkg = JSON.parse(readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8"));
    expect(pkg.scripts.start).toContain("scripts/render.ts --out out");
    expect(readFileSync(path.join(PROJECT_ROOT, ".ci", "run"), "utf8")).toMatch(/\nnpm test\n/);
  });
});
