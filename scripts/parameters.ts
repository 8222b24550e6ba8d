/**
 * `npm run parameters`: writes what components/parameters.ts generates: the shell rules
 * (components/steps/lib/parameter-rules.sh), the README's parameter table and docs/acceptance.md's
 * settings table (each between its markers). test/workflow/parameters.test.ts fails when a checked-in
 * file differs from a fresh generation.
 */
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { configSchema, type StackConfig } from "../components/config";
import { type Parameter, PARAMETERS, parameterRulesShell } from "../components/parameters";

const ROOT = path.join(__dirname, "..");

/** The marker pair around a generated section: `<!-- <name>:start … -->` and `<!-- <name>:end -->`. */
export const markers = (name: string): [string, string] => [
  `<!-- ${name}:start (generated from components/parameters.ts by npm run parameters) -->`,
  `<!-- ${name}:end -->`,
];

/** A table cell: `|` escaped, and `<` outside code spans (`<owner>` would read as an HTML tag). */
const cell = (s: string): string =>
  s.replace(/\|/g, "\\|").split("`").map((part, i) => (i % 2 === 0 ? part.replace(/</g, "&lt;") : part)).join("`");
const code = (s: string): string => (s === "" ? '`""`' : `\`${s}\``);

type Shape = Record<string, { parse: (v: unknown) => unknown }>;

/** The config key's default as the text the render writes (its `config.text`, else `String`). */
function configDefault(p: Parameter): string | undefined {
  if (!p.config) return undefined;
  const [head, ...rest] = p.config.key.split(".");
  let value: unknown = (configSchema.shape as unknown as Shape)[head].parse(undefined);
  for (const k of rest) value = (value as Record<string, unknown>)[k];
  return (p.config.text ?? String)(value);
}

/** The stack config of the schema's defaults (a key without one, such as `github`, left out). */
function defaultConfig(): StackConfig {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(configSchema.shape as unknown as Shape)) {
    try {
      out[key] = schema.parse(undefined);
    } catch {
      // a required key: no default to show
    }
  }
  return out as unknown as StackConfig;
}

/** What a value must be, in words: the messages of its clauses. */
const ruleText = (p: Parameter): string => p.rule.map((c) => c.message).join("; and it ");

/** The README's table of workflow parameters. */
export function parameterTable(): string {
  const defaults = defaultConfig();
  const rows = PARAMETERS.filter((p) => p.submit).map((p) => {
    const value = p.default?.(defaults);
    const def = value === undefined ? "(required)" : p.config && value === configDefault(p) ? `config \`${p.config.key}\` (${code(value)})` : code(value);
    const empty = p.whenEmpty !== undefined ? ` Empty: ${p.whenEmpty}.` : "";
    return `| \`${p.name}\` | ${def} | ${cell(p.description)}${cell(empty)} Rule: ${cell(ruleText(p))}. |`;
  });
  return ["| parameter | default | meaning and rule |", "|---|---|---|", ...rows].join("\n");
}

/** docs/acceptance.md's table of the settings set-params resolves for acceptance. */
export function acceptanceTable(): string {
  const rows = PARAMETERS.filter((p) => p.step === "acceptance").map((p) => {
    const setting = p.config ? `\`${p.config.key}\` (${code(configDefault(p) ?? "")})` : "—";
    const submitted = p.submit ? (p.config ? "; the workflow parameter wins when given" : " (the workflow parameter; README's table)") : "";
    const from = `${setting}${submitted}`;
    return `| \`${p.name}\` (\`${p.env}\`) | ${from} | ${cell(p.description)} Rule: ${cell(ruleText(p))}. |`;
  });
  return ["| input (env) | stack setting (global default) | meaning and rule |", "|---|---|---|", ...rows].join("\n");
}

/** `text` with the section between the markers of `name` replaced by `body`. */
export function withSection(text: string, name: string, body: string): string {
  const [start, end] = markers(name);
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`no ${name} markers`);
  return `${text.slice(0, a)}${start}\n${body}\n${text.slice(b)}`;
}

/** Every generated file: its path (from the repository root) and its text as generated now. */
export function generatedFiles(): Array<{ file: string; text: string }> {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const acceptance = readFileSync(path.join(ROOT, "docs", "acceptance.md"), "utf8");
  return [
    { file: "components/steps/lib/parameter-rules.sh", text: parameterRulesShell() },
    { file: "README.md", text: withSection(readme, "parameters", parameterTable()) },
    { file: "docs/acceptance.md", text: withSection(acceptance, "acceptance-settings", acceptanceTable()) },
  ];
}

if (require.main === module) {
  for (const { file, text } of generatedFiles()) {
    writeFileSync(path.join(ROOT, file), text);
    process.stdout.write(`${file}: regenerated\n`);
  }
}
