/**
 * Runs once before the suite: the offline render of the preview stack, handed to every test file
 * through vitest's `provide`, so the real program runs under Pulumi's mocks once per suite instead
 * of once per file (test/helpers/render.ts `previewRender` reads it); and the fake apps' keys, made
 * on libuv's threads meanwhile, so no test process makes them again (test/setup.ts presets them);
 * and a directory where the test processes share the real helm's and kubectl's answers
 * (simulator/tools.ts `remembered`), removed at the end.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { TestProject } from "vitest/node";
import { renderStack, type Render } from "../scripts/offline-render";
import { STEP_TOOL_DIRS, stepToolsProblem } from "./helpers/step-tools";
import { AGENT_TASKS } from "../components/workflow/agents";
import { makeAppKeyPems } from "../simulator/fake-github";
import { TOOL_ANSWERS_ENV } from "../simulator/tools";

declare module "vitest" {
  export interface ProvidedContext {
    /** The preview stack's render (JSON: every value is plain data). */
    previewRender: Render;
    /** The fake apps' private keys (PKCS#1 PEM), by app name. */
    appKeys: Record<string, string>;
  }
}

/** vitest's global setup: checks the tools built for the steps (jq, curl) are there, renders the preview stack and provides it. */
export default async function setup(project: TestProject): Promise<() => void> {
  const tools = stepToolsProblem();
  if (tools !== undefined) throw new Error(tools);
  // The agents' apps, and one no app has (tests of a wrong key).
  const keys = makeAppKeyPems([...AGENT_TASKS.map((a) => a.app), "stranger"]);
  project.provide("previewRender", await renderStack());
  project.provide("appKeys", await keys);
  // The test processes start after this and inherit these variables: the steps' jq and curl first
  // on PATH, and where the real tools' answers are shared.
  process.env.PATH = [...STEP_TOOL_DIRS, process.env.PATH].join(path.delimiter);
  const answers = mkdtempSync(path.join(tmpdir(), "tool-answers-"));
  process.env[TOOL_ANSWERS_ENV] = answers;
  return () => rmSync(answers, { recursive: true, force: true });
}
