/**
 * lib/rules.sh's helpers that replace a process: `input`, a step's env read into a variable exactly
 * as `VAR=$(printf '%s' "$NAME")` read it before (trailing newlines dropped, nothing else), without
 * the fork; `utc_time`, an instant as `date -u -d @EPOCH +%Y-%m-%dT%H:%M:%SZ` prints it.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../scripts/offline-render";

const RULES = path.join(PROJECT_ROOT, "components", "steps", "lib", "rules.sh");

/** Runs SCRIPT in bash after rules.sh, with X set to each value (or unset), and returns stdout. */
function run(script: string, x: string | undefined, extra: Record<string, string> = {}): string {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...extra };
  if (x !== undefined) env.X = x;
  // stdin not a socket: bash would read ~/.bashrc, taking it for a remote shell.
  return execFileSync("bash", ["-c", `set -euo pipefail\nsource '${RULES}'\n${script}`], { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

describe("input", () => {
  const values: (string | undefined)[] = [undefined, "", "a", " a b ", "a\n", "a\n\n\n", "a\nb", "a\nb\n", "\n", "\n\n", "\ta\t\n", "ünï €\n", "x".repeat(5000) + "\n"];
  it.each(values.map((v) => [JSON.stringify(v)?.slice(0, 20) ?? "unset", v]))("reads %s as command substitution would", (_, x) => {
    const expected = run(`v=$(printf '%s' "\${X-}")\nprintf '[%s]' "$v"`, x);
    expect(run(`declare v\ninput v X\nprintf '[%s]' "$v"`, x)).toBe(expected);
  });

  it("sets an array element, and a caller's variable whatever its name", () => {
    expect(run(`declare -A s=()\nk=a\ninput "s[$k]" X\nprintf '[%s]' "\${s[a]}"`, "b\n")).toBe("[b]");
    for (const name of ["v", "input_value", "x1"]) expect(run(`declare ${name}\ninput ${name} X\nprintf '[%s]' "$${name}"`, "c\n\n")).toBe("[c]");
  });
});

describe("utc_time", () => {
  it("prints an instant in UTC whatever the step's time zone, as date -u does", () => {
    const epochs = ["0", "86399", "951782400", "1700000000", "4102444800"];
    const script = `for e in ${epochs.join(" ")}; do declare t; utc_time t "$e"; printf '%s ' "$t"; date -u -d "@$e" +%Y-%m-%dT%H:%M:%SZ; done`;
    // The zones exist here (an unknown zone would read as UTC and prove nothing).
    expect(run("date +%z", undefined, { TZ: "Asia/Tokyo" })).toBe("+0900\n");
    for (const TZ of ["UTC", "Asia/Tokyo", "America/St_Johns"]) {
      const rows = run(script, undefined, { TZ }).trim().split("\n").map((l) => l.split(" "));
      expect(rows.map(([ours]) => ours)).toEqual(epochs.map((e) => new Date(Number(e) * 1000).toISOString().replace(".000", "")));
      for (const [ours, date] of rows) expect(ours).toBe(date);
    }
  });

  it("takes -1 for now: an instant between two readings of date's clock around it", () => {
    const script = `before=$(date -u +%Y-%m-%dT%H:%M:%SZ)\ndeclare t\nutc_time t -1\nafter=$(date -u +%Y-%m-%dT%H:%M:%SZ)\nprintf '%s %s %s' "$before" "$t" "$after"`;
    const [before, now, after] = run(script, undefined, { TZ: "Asia/Tokyo" }).split(" ");
    // The same fixed-width UTC form sorts as the instants it names: an order, not a duration.
    expect([before, now, after]).toEqual([before, now, after].sort());
    expect(now).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
});
