/**
 * The render every test reads: the real program under Pulumi's mocks for the preview stack, once
 * per suite (test/global-setup.ts renders it and hands it to every test file), or once per process
 * outside vitest (scripts/bench-acceptance.ts).
 */
import type { ICronWorkflow } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/CronWorkflow";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { Render } from "../../scripts/offline-render";
import { objectsOf, templateNamed } from "../../simulator/render";

let preview: Promise<Render> | undefined;

/** Freezes a value and everything in it. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/**
 * The preview stack's render. Under vitest it is the suite's one render (test/global-setup.ts);
 * a test file that runs without that setup, and a script, render it themselves, once. The files
 * of a worker share it (vitest.config.mts: `isolate: false`), so it is frozen: a test that edits
 * it throws instead of changing what another file reads (copy it with `structuredClone` first).
 */
export function previewRender(): Promise<Render> {
  return (preview ??= (async () => {
    if (process.env.VITEST) {
      const { inject } = await import("vitest");
      const given = inject("previewRender");
      if (given !== undefined) return deepFreeze(given);
    }
    // Imported here, not above: the Pulumi runtime takes seconds to load, and a file that reads
    // only the suite's render never needs it.
    const { renderStack } = await import("../../scripts/offline-render");
    return deepFreeze(await renderStack());
  })());
}

export { implementationDag, objectsOf, templateNamed } from "../../simulator/render";

/** The sweeper's `ttl-sweep` template, as the preview stack's CronWorkflow runs it. */
export async function sweepTemplate(): Promise<ITemplate> {
  const [cron] = objectsOf(await previewRender(), "CronWorkflow", "implementation-dag-ttl-sweep") as unknown as ICronWorkflow[];
  return templateNamed({ spec: cron.spec.workflowSpec }, "ttl-sweep");
}
