import { beforeAll, describe, expect, it } from "vitest";
import { CronWorkflow } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/CronWorkflow";
import type { ICronWorkflow } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/CronWorkflow";
import { findMergeVectorsIn } from "../../components/no-merge";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from "../../components/pod-security";
import { lintWorkflowSpec } from "../../components/argo/lint";
import { renderStack, type Render } from "../../scripts/offline-render";
import { objectsOf, previewRender, templateNamed } from "../helpers/render";

let render: Render;
let cron: ICronWorkflow;
beforeAll(async () => {
  render = await previewRender();
  [cron] = objectsOf(render, "CronWorkflow") as unknown as ICronWorkflow[];
});

describe("the TTL CronWorkflow", () => {
  it("is the only CronWorkflow, registered under its TtlSweeper component", () => {
    expect(objectsOf(render, "CronWorkflow")).toHaveLength(1);
    const resource = render.resources.find((r) => r.type === "kubernetes:argoproj.io/v1alpha1:CronWorkflow");
    const component = render.resources.find((r) => r.type === "implementation-dag:index:TtlSweeper");
    expect(component).toBeDefined();
    expect(resource?.parent).toBe(component?.urn);
    expect(cron.metadata).toMatchObject({ name: "implementation-dag-ttl-sweep", namespace: "argo" });
    expect(render.outputs.ttlCronWorkflow).toBe("implementation-dag-ttl-sweep");
  });

  it("runs on the configured schedules (Argo >= 3.6 list), one at a time, with a starting deadline", () => {
    expect(cron.spec).toMatchObject({ schedules: ["*/30 * * * *"], concurrencyPolicy: "Forbid", startingDeadlineSeconds: 300 });
    expect(cron.spec).not.toHaveProperty("schedule");
  });

  it("takes schedule, max age and starting deadline from config", async () => {
    const other = await renderStack({ overrides: { ttl: { hours: 24, schedule: "0 * * * *", maxAgeHours: 72, startingDeadlineSeconds: 60, terminatingLimitMinutes: 15 } } });
    const [c] = objectsOf(other, "CronWorkflow") as unknown as ICronWorkflow[];
    expect(c.spec).toMatchObject({ schedules: ["0 * * * *"], startingDeadlineSeconds: 60 });
    const env = Object.fromEntries((templateNamed({ spec: c.spec.workflowSpec }, "ttl-sweep").script?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ MAX_AGE_HOURS: "72", TERMINATING_LIMIT_MINUTES: "15" });
  });

  it("runs under the sweeper's own service account, with a dryRun parameter defaulting to false", () => {
    const spec = cron.spec.workflowSpec;
    expect(spec.serviceAccountName).toBe("implementation-dag-sweeper");
    expect(spec.arguments?.parameters).toEqual([expect.objectContaining({ name: "dryRun", value: "false", enum: ["true", "false"] })]);
    const t = templateNamed({ spec }, "ttl-sweep");
    expect(spec.entrypoint).toBe("ttl-sweep");
    expect(t.inputs?.parameters).toEqual([expect.objectContaining({ name: "dryRun", value: "false" })]);
    expect(t.script?.env).toContainEqual({ name: "DRY_RUN", value: "{{inputs.parameters.dryRun}}" });
  });

  it("archives the report as an artifact, even when the sweep fails", () => {
    const t = templateNamed({ spec: cron.spec.workflowSpec }, "ttl-sweep");
    expect(t.outputs?.artifacts).toEqual([{
      name: "ttl-report", path: "/tmp/outputs/ttl-report", optional: true,
      s3: { key: "implementation-dag/ttl-sweep/{{workflow.name}}/ttl-report.tgz" },
    }]);
    expect(cron.spec.workflowSpec.artifactRepositoryRef).toEqual({ configMap: "artifact-repositories", key: "default-v1" });
  });

  it("runs a restricted pod with requests and limits, the script verbatim and no {{ in it", () => {
    const spec = cron.spec.workflowSpec;
    const t = templateNamed({ spec }, "ttl-sweep");
    expect(spec.securityContext).toEqual(restrictedPodSecurityContext(65532));
    expect(t.script?.securityContext).toEqual(restrictedContainerSecurityContext(65532));
    expect(t.script?.resources).toEqual({ requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "2", memory: "4Gi" } });
    expect(t.script?.image).toBe("docker.io/alpine/k8s:1.32.3");
    expect(t.script?.source).not.toContain("{{");
    expect(t.activeDeadlineSeconds).toBeGreaterThan(0);
  });

  it("embeds the naming rules the teardown library needs (lib/rules.sh, lib/names.sh) before it", () => {
    const source = templateNamed({ spec: cron.spec.workflowSpec }, "ttl-sweep").script!.source!;
    const at = (lib: string) => source.indexOf(`# ---- lib/${lib}.sh ----`);
    for (const lib of ["rules", "github", "deployments", "names", "teardown"]) expect(at(lib), lib).toBeGreaterThan(0);
    expect(at("rules")).toBeLessThan(at("names"));
    expect(at("names")).toBeLessThan(at("teardown"));
    // No copy of a naming pattern of its own: the rule is lib/rules.sh's is_preview_namespace.
    expect(source.slice(source.indexOf("# ---- end lib/teardown.sh ----"))).not.toMatch(/impl-pr-\[1-9\]|\^impl-/);
  });

  it("passes the Argo reference lint", () => {
    expect(lintWorkflowSpec(cron.spec.workflowSpec)).toEqual([]);
  });

  it("matches the Argo v4 CronWorkflow schema (which does catch a wrong one)", () => {
    const copy = structuredClone(cron);
    for (const t of copy.spec.workflowSpec.templates ?? []) if (t.script && !("name" in t.script)) Object.assign(t.script, { name: "main" });
    expect(() => new CronWorkflow(copy).validate()).not.toThrow();
    const broken = structuredClone(copy) as unknown as { spec: { schedules: unknown } };
    broken.spec.schedules = "*/30 * * * *";
    expect(() => new CronWorkflow(broken as unknown as ICronWorkflow).validate()).toThrow();
  });

  it("renders no merge vector", () => {
    expect(findMergeVectorsIn(cron)).toEqual([]);
  });
});
