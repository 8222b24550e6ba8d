import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../scripts/offline-render";

/** Rows of docs/test-scenarios.md: scenario, file, test name. */
function scenarioRows(): Array<{ scenario: string; file: string; test: string }> {
  const text = readFileSync(path.join(PROJECT_ROOT, "docs", "test-scenarios.md"), "utf8");
  return text
    .split("\n")
    .filter((line) => /^\| .* \| `test\//.test(line))
    .map((line) => {
      const [scenario, file, test] = line.split(" | ").map((cell) => cell.replace(/^\| |\s*\|$/g, "").trim());
      return { scenario, file: file.replace(/`/g, ""), test: test.replace(/^"|"$/g, "") };
    });
}

/**
 * The names of the tests and suites declared in a test file (`it("…"`, `it.each(…)("…"`,
 * `describe("…"`, and `scenario("…"`, which test/deploy/deploy.test.ts declares its tests with).
 */
function declaredTests(file: string): string[] {
  const source = readFileSync(path.join(PROJECT_ROOT, file), "utf8");
  return [...source.matchAll(/\b(?:it|test|describe|scenario)(?:\.each\([^)]*\))?\(\s*(["'`])((?:\\.|(?!\1).)*)\1/g)].map((m) => m[2].replace(/\\(.)/g, "$1"));
}

describe("docs/test-scenarios.md", () => {
  const rows = scenarioRows();

  it("maps every scenario the specification asks for", () => {
    const text = rows.map((r) => r.scenario.toLowerCase()).join("\n");
    for (const topic of ["complete success path", "a failure at each stage", "parameter passing", "cleanup on failure", "cleanup on success",
      "namespace creation and labelling", "helm parameters", "url extraction", "response codes", "metric calculation", "thresholds", "artifacts"]) {
      expect(text, topic).toContain(topic);
    }
  });

  it.each(rows.map((r) => [r.scenario, r.file, r.test]))("%s: %s has the test it names", (_scenario, file, test) => {
    expect(existsSync(path.join(PROJECT_ROOT, file)), file).toBe(true);
    expect(declaredTests(file)).toContain(test);
  });
});
