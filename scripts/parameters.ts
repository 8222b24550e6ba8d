/**
 * `npm run parameters`: writes what components/parameters.ts generates: the shell rules
 * (components/steps/lib/parameter-rules.sh), the README's parameter table, its sketch and table of the
 * agents' child-Workflow parameters, and docs/acceptance.md's settings table (each between its markers). test/workflow/parameters.test.ts fails when a checked-in
 * file differs from a fresh generation.
 */
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { configSchema, type StackConfig } from "../components/config";
import { outputName, type Parameter, PARAMETERS, parameterRulesShell } from "../components/parameters";
import { AGENT_GRACE_SECONDS, AGENT_LABEL, AGENT_OWN_PARAMETERS, AGENT_TASKS, CODERUN_PARAMETERS, PARENT_ANNOTATION } from "../components/workflow/agents";

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

/** A workflow parameter's default in words: `(required)`, the stack config key it comes from and its value, or the value. */
function defaultText(p: Parameter, defaults: StackConfig): string {
  const value = p.default?.(defaults);
  if (value === undefined) return "(required)";
  return p.config && value === configDefault(p) ? `config \`${p.config.key}\` (${code(value)})` : code(value);
}

/** The README's table of workflow parameters. */
export function parameterTable(): string {
  const defaults = defaultConfig();
  const rows = PARAMETERS.filter((p) => p.submit).map((p) => {
    const empty = p.whenEmpty !== undefined ? ` Empty: ${p.whenEmpty}.` : "";
    return `| \`${p.name}\` | ${defaultText(p, defaults)} | ${cell(p.description)}${cell(empty)} Rule: ${cell(ruleText(p))}. |`;
  });
  return ["| parameter | default | meaning and rule |", "|---|---|---|", ...rows].join("\n");
}

/** `items` as a YAML flow sequence after `lead`, wrapped before `width` columns under its first item. */
function flowSequence(lead: string, items: readonly string[], width = 100): string[] {
  const indent = " ".repeat(lead.length + 1);
  const lines = [`${lead}[`];
  items.forEach((item, i) => {
    const text = `${item}${i < items.length - 1 ? "," : "]"}`;
    const last = lines[lines.length - 1];
    if (last.endsWith("[")) lines[lines.length - 1] = `${last}${text}`;
    else if (`${last} ${text}`.length < width) lines[lines.length - 1] = `${last} ${text}`;
    else lines.push(`${indent}${text}`);
  });
  return lines;
}

/** The README's sketch of an agent's child Workflow, its parameters those the agent template reads. */
export function agentWorkflowSketch(): string {
  const defaults = defaultConfig();
  const [first, ...others] = AGENT_TASKS;
  return [
    "```yaml",
    "apiVersion: argoproj.io/v1alpha1",
    "kind: Workflow",
    "metadata:",
    `  generateName: agent-${first.task}-          # ${others.map((a) => `agent-${a.task}-`).join(", ")}`,
    `  labels: {${AGENT_LABEL}: ${first.task}, app.kubernetes.io/component: agent}`,
    `  annotations: {${PARENT_ANNOTATION}: <this workflow>}`,
    "  ownerReferences: [<this workflow>]     # setOwnerReference: deleting the run deletes its agents",
    "spec:",
    `  workflowTemplateRef: {name: ${defaults.agent.templateName}}   # clusterScope: true with agent.clusterScope`,
    `  activeDeadlineSeconds: <the agent's deadline - ${AGENT_GRACE_SECONDS}>`,
    "  arguments:",
    ...flowSequence("    parameters: ", CODERUN_PARAMETERS),
    "```",
  ].join("\n");
}

/** The README's table of the child Workflow's parameters and where each value comes from. */
export function agentParameterTable(): string {
  const defaults = defaultConfig();
  const apps = AGENT_TASKS.map((a) => `\`${defaults.agent.githubApps[a.app]}\` for \`${a.task}\``).join(", ");
  // The ones that are no entry of the parameter table: the type asks for a text for each.
  const own: Record<(typeof AGENT_OWN_PARAMETERS)[number]["name"], string> = {
    "repository-url": "`<github.webUrl>/<owner>/<repo>`, made by set-params from `owner` and `repo`",
    "github-app": `the agent's, from config \`agent.githubApps.{${AGENT_TASKS.map((a) => a.app).join(",")}}\` (default ${apps})`,
  };
  const value = (name: string): string => {
    if (Object.hasOwn(own, name)) return own[name as keyof typeof own];
    const p = PARAMETERS.find((x) => x.step === "agents" && outputName(x) === name);
    if (!p) throw new Error(`the agent template's parameter ${name} is neither an agent entry of the parameter table nor given a value`);
    const empty = p.whenEmpty !== undefined ? `; empty: ${p.whenEmpty}` : "";
    return `${p.passedOn ? `${p.passedOn} of ` : ""}workflow parameter \`${p.name}\` (default ${defaultText(p, defaults)}${empty})`;
  };
  return ["| child parameter | value |", "|---|---|", ...CODERUN_PARAMETERS.map((name) => `| \`${name}\` | ${cell(value(name))} |`)].join("\n");
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
    {
      file: "README.md",
      text: [
        ["parameters", parameterTable()], ["agent-workflow", agentWorkflowSketch()], ["agent-parameters", agentParameterTable()],
      ].reduce((text, [name, body]) => withSection(text, name, body), readme),
    },
    { file: "docs/acceptance.md", text: withSection(acceptance, "acceptance-settings", acceptanceTable()) },
  ];
}

if (require.main === module) {
  for (const { file, text } of generatedFiles()) {
    writeFileSync(path.join(ROOT, file), text);
    process.stdout.write(`${file}: regenerated\n`);
  }
}
