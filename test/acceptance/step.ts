/**
 * What the acceptance test files share: the rendered acceptance template, the inputs set-params gives
 * a repository without its own settings, and loopback servers closed after each test.
 */
import { afterEach, beforeAll } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { parseConfig } from "../../components/config";
import { acceptanceDefaults } from "../../components/workflow/acceptance";
import { readStackConfig } from "../../scripts/offline-render";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";
import { startServer, type Handler, type Loopback } from "../../simulator/acceptance-harness";

/** Every input, as set-params gives it for a repository without its own settings (the preview stack's). */
export const STACK = acceptanceDefaults(parseConfig(readStackConfig("preview")).acceptance);

/**
 * Thresholds and counts of a plain run. Readiness is off here (ready_consecutive 0) because these tests
 * count the requests a server received and time its answers by arrival; readiness has its own tests.
 */
export const BASE = { ...STACK, min_success_pct: "95", max_p95_ms: "2000", requests_per_endpoint: "10", concurrency: "4", timeout_ms: "5000", ready_consecutive: "0" };

/** Registers the template's rendering and the servers' closing; returns how to reach both. */
export function useAcceptanceStep() {
  let template: ITemplate | undefined;
  const servers: Loopback[] = [];
  beforeAll(async () => {
    template = templateNamed(implementationDag(await previewRender()), "acceptance");
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return {
    /** The rendered acceptance template. */
    get template(): ITemplate {
      if (!template) throw new Error("the acceptance template is read in beforeAll");
      return template;
    },
    /** A loopback server answering with `handler`, closed after the test. */
    async serve(handler: Handler, tls?: { key: string; cert: string }): Promise<Loopback> {
      const s = await startServer(handler, tls);
      servers.push(s);
      return s;
    },
  };
}
