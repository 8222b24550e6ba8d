/**
 * `npm run render -- --out DIR [--stack NAME]`: the offline render of a stack (default `preview`)
 * into DIR/manifests.yaml, DIR/resources.json and DIR/outputs.json. `--summary` also prints the
 * objects and the DAG as text. Exits 1 with the config message on bad config.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import type { Render } from "./offline-render";

function usage(message: string): never {
  process.stderr.write(`ERROR: ${message}\nusage: npm run render -- --out DIR [--stack NAME] [--summary]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): { out: string; stack: string; summary: boolean } {
  let out: string | undefined;
  let stack = "preview";
  let summary = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--out") out = argv[++i] ?? usage("--out needs a directory");
    else if (arg === "--stack") stack = argv[++i] ?? usage("--stack needs a name");
    else if (arg === "--summary") summary = true;
    else usage(`unknown argument ${JSON.stringify(arg)}`);
  }
  if (!out) usage("--out DIR is required");
  return { out, stack, summary };
}

/** The objects and the DAG, as a person reads them. */
export function summarize(render: Render): string {
  const lines = [`${render.manifests.length} Kubernetes objects:`];
  for (const m of render.manifests) {
    lines.push(`  ${m.kind.padEnd(34)} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ""}${m.metadata.name}`);
  }
  type Task = { name: string; depends?: string; templateRef?: { name: string; template: string }; template?: string };
  type Tmpl = { name: string; dag?: { tasks: Task[] }; synchronization?: { mutexes?: Array<{ name: string }> } };
  for (const m of render.manifests.filter((o) => o.kind === "WorkflowTemplate")) {
    const spec = m.spec as { templates: Tmpl[]; onExit?: string; entrypoint: string };
    const byName = new Map(spec.templates.map((t) => [t.name, t]));
    const dag = byName.get(spec.entrypoint)?.dag;
    if (!dag) continue;
    lines.push("", `DAG of ${m.metadata.name}:`);
    // A task that runs a DAG template of this WorkflowTemplate is shown with that DAG's tasks under it.
    const walk = (tasks: Task[], indent: string) => {
      for (const task of tasks) {
        const what = task.templateRef ? `${task.templateRef.name}/${task.templateRef.template}` : task.template;
        const inner = task.template ? byName.get(task.template) : undefined;
        const lock = inner?.synchronization?.mutexes?.length ? " (holds the preview's mutex)" : "";
        lines.push(`${indent}${task.name.padEnd(20 - indent.length)} runs ${`${what}${lock}`.padEnd(42)} ${task.depends ? `after ${task.depends}` : "first"}`);
        if (inner?.dag) walk(inner.dag.tasks, `${indent}  `);
      }
    };
    walk(dag.tasks, "  ");
    if (spec.onExit) lines.push(`  onExit: ${spec.onExit}`);
  }
  const hardening = render.outputs.repositoryHardeningWarning;
  if (typeof hardening === "string" && hardening !== "") lines.push("", `WARNING: ${hardening}`);
  return lines.join("\n");
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // The render's modules (the Pulumi runtime among them) load once the arguments are good.
  const { renderStack } = await import("./offline-render");
  let render: Render;
  try {
    render = await renderStack({ stack: args.stack });
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
  const out = path.resolve(args.out);
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, "manifests.yaml"), render.manifests.map((m) => stringify(m, { lineWidth: 0 })).join("---\n"));
  writeFileSync(path.join(out, "resources.json"), JSON.stringify(render.resources, null, 2) + "\n");
  writeFileSync(path.join(out, "outputs.json"), JSON.stringify(render.outputs, null, 2) + "\n");
  if (args.summary) process.stdout.write(`${summarize(render)}\n\n`);
  process.stdout.write(`Rendered stack ${args.stack}: ${render.manifests.length} objects, ${render.resources.length} resources -> ${out}\n`);
}

void main();
