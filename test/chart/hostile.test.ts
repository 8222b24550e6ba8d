/**
 * A hostile pull request's chart (test/chart/fixtures/hostile), rendered by the real helm v4 as deploy
 * would install it, then every object run through the preview-charts admission policy as the API
 * server would: created by the namespace's preview-deployer, the preview namespace carrying its host,
 * objects as plain maps, two CEL engines that must agree. Each escape is refused, object by object,
 * with the reason that names it; the preview's own Ingress and a plain Service get through.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { HOST_ANNOTATION, previewChartsPolicy } from "../../components/admission";
import { parseConfig } from "../../components/config";
import { PROJECT_ROOT, readStackConfig } from "../../scripts/offline-render";
import { admit, type Obj } from "../helpers/admission";
import { realTool } from "../../simulator/tools";
import { previewLimitRangeFile, runContractCheck } from "./contract-check";

const CHART = path.join(PROJECT_ROOT, "test", "chart", "fixtures", "hostile");
const NS = "impl-pr-42";
const HOST = "pr-42.preview.example.com";
const DEPLOYER = `system:serviceaccount:${NS}:preview-deployer`;
const policy = previewChartsPolicy(parseConfig(readStackConfig("preview")));
const previewNamespace = {
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name: NS, labels: { preview: "true", "implementation-dag/instance": "argo" }, annotations: { [HOST_ANNOTATION]: HOST } },
};

const HOST_RULE = /may only serve the preview's host/;
/** What the policy must say about each object of the hostile chart (`Kind/name`): null is admitted. */
const EXPECTED: Record<string, RegExp | null> = {
  "Ingress/steal-argo-server": HOST_RULE,
  "Ingress/steal-api-server": HOST_RULE,
  "Ingress/steal-metadata": HOST_RULE,
  "Ingress/steal-other-pr": HOST_RULE,
  "Ingress/steal-parent-wildcard": HOST_RULE,
  "Ingress/catch-all": HOST_RULE,
  "Ingress/tls-for-another-host": HOST_RULE,
  "Ingress/default-backend": /may not set a defaultBackend/,
  "Service/external-name": /may not create a Service of type ExternalName/,
  "Service/external-ips": /may not set externalIPs/,
  "ConfigMap/stuck": /may not set finalizers/,
  "Ingress/own-host": null,
  "Service/app": null,
};

let objects: Obj[];
beforeAll(async () => {
  const { stdout } = await promisify(execFile)(
    realTool("helm"),
    ["template", "hostile-pr-42", CHART, "--namespace", NS, "--set-string", `ingress.host=${HOST}`],
    { encoding: "utf8", env: { ...process.env, HELM_CACHE_HOME: path.join(PROJECT_ROOT, ".cache", "helm") } },
  );
  objects = parseAllDocuments(stdout).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null);
});

const keyOf = (o: Obj) => `${String(o.kind)}/${String((o.metadata as { name?: string }).name)}`;

describe("a hostile chart rendered with the real helm", () => {
  it("renders exactly the objects under test", () => {
    expect(objects.map(keyOf).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED))("the preview deployer's create of %s: %s", (key, expected) => {
    const object = objects.find((o) => keyOf(o) === key);
    expect(object, key).toBeDefined();
    const verdict = admit(policy, { user: DEPLOYER, operation: "CREATE", object, namespaceObject: previewNamespace });
    expect(verdict.matched).toBe(true);
    if (expected === null) {
      expect(verdict.denied).toEqual([]);
    } else {
      expect(verdict.denied.length, key).toBeGreaterThan(0);
      expect(verdict.denied.join("\n")).toMatch(expected);
    }
  });

  it("is refused object by object: every escape is refused and only the preview's own objects get through", () => {
    const admitted = objects.filter((object) => admit(policy, { user: DEPLOYER, operation: "CREATE", object, namespaceObject: previewNamespace }).denied.length === 0);
    expect(admitted.map(keyOf).sort()).toEqual(["Ingress/own-host", "Service/app"]);
  });

  it("applies to the chart's deployer only: the same objects by someone else are not this policy's business", () => {
    for (const object of objects) {
      expect(admit(policy, { user: "system:serviceaccount:ingress-nginx:ingress-nginx", operation: "CREATE", object, namespaceObject: previewNamespace }).matched).toBe(false);
    }
  });

  it("is refused before any run by the chart contract check, object for object as admission refuses it", async () => {
    const r = await runContractCheck({
      CHART_DIR: CHART, VALUES_FILE: "", RELEASE: "hostile-pr-42", NS, HOST, IMAGE_TAG: "pr-42", IMAGE_PULL_POLICY: "", INGRESS_CLASS: "nginx",
      LIMITRANGE_FILE: previewLimitRangeFile(),
    });
    expect(r.code).toBe(1);
    const refused = Object.entries(EXPECTED).filter(([, reason]) => reason !== null).map(([key]) => key);
    expect([...new Set(r.report.map((l) => l.slice(0, l.indexOf(": "))))].sort()).toEqual([...refused, "the chart"].sort());
    // The chart makes no pod, so no image carries the tag: the one failure admission has no say in.
    expect(r.report.filter((l) => l.startsWith("the chart: "))).toEqual([
      "the chart: no container image ends with :pr-42 (the tag given as image.tag). Fix: take the image's tag from .Values.image.tag",
    ]);
  });
});
