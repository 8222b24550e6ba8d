/**
 * `npm run step -- NAME [--env]`: prints the script of one step template exactly as rendered into
 * the WorkflowTemplate (or, with --env, the environment it receives, with Argo's expressions), so a
 * step can be run by hand outside Argo with the same env. NAME is a template of implementation-dag,
 * preview-teardown or the TTL CronWorkflow.
 */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { renderStack } from "./offline-render";

async function main(): Promise<void> {
  const [name, flag] = process.argv.slice(2);
  if (!name || (flag !== undefined && flag !== "--env")) {
    process.stderr.write("usage: npm run step -- NAME [--env]\n");
    process.exit(2);
  }
  const render = await renderStack();
  const templates: ITemplate[] = render.manifests.flatMap((m) => {
    const spec = m.spec as { templates?: ITemplate[]; workflowSpec?: { templates?: ITemplate[] } } | undefined;
    return spec?.templates ?? spec?.workflowSpec?.templates ?? [];
  });
  const t = templates.find((x) => x.name === name && x.script);
  if (!t?.script) {
    const known = templates.filter((x) => x.script).map((x) => x.name);
    process.stderr.write(`ERROR: NAME: no script template ${JSON.stringify(name)}; known: ${[...new Set(known)].join(", ")}\n`);
    process.exit(2);
  }
  if (flag === "--env") {
    for (const e of t.script.env ?? []) {
      const from = e.valueFrom?.secretKeyRef ? `<secret ${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}>` : e.valueFrom ? "<from the pod>" : e.value ?? "";
      process.stdout.write(`${e.name}=${from}\n`);
    }
    return;
  }
  process.stdout.write(t.script.source ?? "");
}

void main();
