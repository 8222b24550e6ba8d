import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { STEPS_DIR } from "../../components/argo/script-template";

/** Every step script and shell library. */
function shellFiles(dir = STEPS_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? shellFiles(path.join(dir, e.name)) : e.name.endsWith(".sh") ? [path.join(dir, e.name)] : []);
}

describe("step scripts", () => {
  it("are shellcheck-clean (bash, every severity)", async () => {
    const files = shellFiles();
    expect(files.length).toBeGreaterThan(0);
    const result = await promisify(execFile)("shellcheck", ["--shell=bash", "--severity=style", "--external-sources", ...files], { cwd: STEPS_DIR }).then(
      () => ({ code: 0, out: "" }),
      (e: { code: number | string; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );
    if (result.code === "ENOENT") throw new Error("shellcheck is not installed (apt-get install shellcheck; .ci/run installs it)");
    expect(result.out).toBe("");
    expect(result.code).toBe(0);
  });

  it.each(shellFiles().filter((f) => !f.includes(`${path.sep}lib${path.sep}`)).map((f) => path.basename(f)))(
    "%s starts with its comment block and set -euo pipefail",
    (file) => {
      const text = readFileSync(path.join(STEPS_DIR, file), "utf8");
      expect(text.startsWith("#!/usr/bin/env bash\n# ")).toBe(true);
      expect(text).toMatch(/\nset -euo pipefail\n/);
    },
  );

  // glibc's regex engine, which bash's `=~` uses, expands a bounded repetition into one state per
  // count: measured on this machine, `{1,100}` costs 0.2 ms per match, `{0,251}` 1.8 ms and
  // `{1,2048}` 50 ms and 70 MB, which every later fork of the step then copies. A longer bound is
  // written as `+` or `*` with the length checked apart (`${#v}`).
  it("bound no repetition in a regular expression above 255", () => {
    const found = shellFiles().flatMap((file) =>
      readFileSync(file, "utf8").split("\n").flatMap((line, i) => line.trimStart().startsWith("#") ? [] :
        [...line.matchAll(/\{(\d*),(\d+)\}/g)].filter((m) => Number(m[2]) > 255).map((m) => `${path.relative(STEPS_DIR, file)}:${i + 1}: ${m[0]}`)));
    expect(found).toEqual([]);
  });
});
