/**
 * Runs once before the suite: the offline render of the preview stack, handed to every test file
 * through vitest's `provide`, so the real program runs under Pulumi's mocks once per suite instead
 * of once per file (test/helpers/render.ts `previewRender` reads it).
 */
import type { TestProject } from "vitest/node";
import { renderStack, type Render } from "../scripts/offline-render";
import { stepJqProblem } from "../scripts/tools";

declare module "vitest" {
  export interface ProvidedContext {
    /** The preview stack's render (JSON: every value is plain data). */
    previewRender: Render;
  }
}

/** vitest's global setup: checks the step image's jq is there, renders the preview stack and provides it. */
export default async function setup(project: TestProject): Promise<void> {
  const jq = stepJqProblem();
  if (jq !== undefined) throw new Error(jq);
  project.provide("previewRender", await renderStack());
}
