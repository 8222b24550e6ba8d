/**
 * Runs once before the suite: the offline render of the preview stack, handed to every test file
 * through vitest's `provide`, so the real program runs under Pulumi's mocks once per suite instead
 * of once per file (test/helpers/render.ts `previewRender` reads it); and the fake apps' keys, made
 * on libuv's threads meanwhile, so no test process makes them again (test/setup.ts presets them).
 */
import type { TestProject } from "vitest/node";
import { renderStack, type Render } from "../scripts/offline-render";
import { stepToolsProblem } from "../scripts/tools";
import { APP_KEY_NAMES, makeAppKeyPems } from "../simulator/fake-github";

declare module "vitest" {
  export interface ProvidedContext {
    /** The preview stack's render (JSON: every value is plain data). */
    previewRender: Render;
    /** The fake apps' private keys (PKCS#1 PEM), by app name. */
    appKeys: Record<string, string>;
  }
}

/** vitest's global setup: checks the tools built for the steps (jq, curl) are there, renders the preview stack and provides it. */
export default async function setup(project: TestProject): Promise<void> {
  const tools = stepToolsProblem();
  if (tools !== undefined) throw new Error(tools);
  const keys = makeAppKeyPems(APP_KEY_NAMES);
  project.provide("previewRender", await renderStack());
  project.provide("appKeys", await keys);
}
