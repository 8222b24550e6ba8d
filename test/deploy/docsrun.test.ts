/**
 * The `docsrun` runner: the same DAG-facing `deploy` template as the `pod` runner, built as a steps
 * template (the DocsRun resource step, then discover-urls). The DocsRun carries the very deploy
 * script; run as its controller would (the manifest substituted by Argo, its script under bash),
 * it deploys like the pod runner, and discover-urls reads the commit and URLs back.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import type { IWorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import { parseConfig } from "../../components/config";
import { findMergeVectors } from "../../components/no-merge";
import { DEPLOY_INPUTS, DEPLOY_LIBRARIES, deployTemplates } from "../../components/workflow/deploy";
import { lintWorkflowSpec } from "../../components/argo/lint";
import { stepSource } from "../../components/argo/script-template";
import { readFileSync } from "node:fs";
import { readStackConfig, renderStack, type Render } from "../../scripts/offline-render";
import { runScriptTemplate, substitute } from "../../simulator/argo-step";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";
import { startStandIns, type StandIns } from "../../simulator/stand-ins";
import {
  busyboxDir, CHART_INGRESS, clusterLines, githubWorld, guardrailsDir, HEAD_SHA, HOST, ingress, newWorld, NS, PARAMETERS, PR, previewNamespace, RELEASE, WORKFLOW,
  worldTools, type World,
} from "./fixtures";
import { asArgoModel } from "../helpers/argo-schema";

let podRender: Render;
let docsRender: Render;
let pod: IWorkflowTemplate;
let docs: IWorkflowTemplate;
let standIns: StandIns | undefined;

beforeAll(async () => {
  podRender = await previewRender();
  pod = structuredClone(implementationDag(podRender));
  docsRender = await renderStack({ overrides: { deploy: { runner: "docsrun" } } });
  docs = implementationDag(docsRender);
});
afterEach(async () => {
  await standIns?.close();
  standIns = undefined;
});

const named = (wt: IWorkflowTemplate, name: string) => templateNamed(wt as { spec: { templates?: ITemplate[] } }, name);
const dagTask = (wt: IWorkflowTemplate, name: string) => wt.spec.templates![0].dag!.tasks!.find((t) => t.name === name);
/** Argo's JSON has each group of parallel steps as a plain list. */
const groups = (t: ITemplate) => t.steps as unknown as Array<Array<{ name: string; template: string; arguments: { parameters: Array<{ name: string; value: string }> } }>>;

describe("deploy with the docsrun runner", () => {
  it("keeps the DAG-facing interface of the pod runner: same task, same inputs, commit and deploy-urls out", () => {
    expect(dagTask(docs, "deploy")).toEqual(dagTask(pod, "deploy"));
    const [p, d] = [named(pod, "deploy"), named(docs, "deploy")];
    expect(d.inputs).toEqual(p.inputs);
    expect(d.inputs!.parameters!.map((x) => x.name)).toEqual([...DEPLOY_INPUTS]);
    expect(d.outputs!.parameters!.map((x) => x.name)).toEqual(["commit"]);
    expect(p.outputs!.parameters!.map((x) => x.name)).toEqual(["commit"]);
    expect(d.outputs!.artifacts!.map((x) => x.name)).toEqual(["deploy-urls"]);
    expect(p.outputs!.artifacts!.map((x) => x.name)).toEqual(["deploy-urls", "deploy-evidence"]);
    expect(p.script).toBeDefined();
    expect(d.steps).toBeDefined();
  });

  it("creates the DocsRun, then discovers, and returns the discovery's commit and urls.json", () => {
    const d = named(docs, "deploy");
    expect(groups(d).map((g) => g.map((s) => [s.name, s.template]))).toEqual([[["deploy-docsrun", "deploy-docsrun"]], [["discover-urls", "discover-urls"]]]);
    expect(groups(d)[0][0].arguments.parameters).toEqual(DEPLOY_INPUTS.map((name) => ({ name, value: `{{inputs.parameters.${name}}}` })));
    expect(groups(d)[1][0].arguments.parameters).toEqual(["pr", "ns", "release", "host"].map((name) => ({ name, value: `{{inputs.parameters.${name}}}` })));
    expect(d.outputs).toEqual({
      parameters: [{ name: "commit", valueFrom: { parameter: "{{steps.discover-urls.outputs.parameters.commit}}" } }],
      artifacts: [{ name: "deploy-urls", from: "{{steps.discover-urls.outputs.artifacts.deploy-urls}}" }],
    });
  });

  it("finishes the resource step only on the CR's status, and ties the CR to the workflow", () => {
    const r = named(docs, "deploy-docsrun");
    expect(r.resource).toMatchObject({
      action: "create",
      setOwnerReference: true,
      successCondition: "status.phase == Succeeded",
      failureCondition: "status.phase in (Failed,Error)",
    });
    expect(r.activeDeadlineSeconds).toBe(1200);
    const cfg = parseConfig({
      ...readStackConfig("preview"),
      "implementation-dag:deploy": JSON.stringify({ runner: "docsrun", docsrun: { statusField: "status.state", successValues: ["Done", "Complete"], failureValues: ["Broken"] } }),
    });
    const custom = deployTemplates(cfg).find((t) => t.name === "deploy-docsrun")!;
    expect(custom.resource).toMatchObject({ successCondition: "status.state in (Done,Complete)", failureCondition: "status.state == Broken" });
  });

  it("carries the deploy script itself, with its command and env, in the DocsRun's spec", () => {
    const manifest = JSON.parse(named(docs, "deploy-docsrun").resource!.manifest!);
    expect(manifest).toMatchObject({ apiVersion: "taskmaster.io/v1", kind: "DocsRun", metadata: { generateName: "docsrun-deploy-" } });
    expect(manifest.metadata.name).toBeUndefined();
    expect(manifest.spec.command).toEqual(["bash"]);
    expect(manifest.spec.script).toBe(stepSource("deploy", DEPLOY_LIBRARIES));
    expect(manifest.spec.script).toBe(named(pod, "deploy").script!.source);
    expect(manifest.spec.script).not.toContain("{{");
    expect(manifest.spec.serviceAccountName).toBe("implementation-dag");
    expect(manifest.spec.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    expect(manifest.spec.resources).toEqual({ requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "2", memory: "4Gi" } });
    const env = manifest.spec.env as IEnvVar[];
    expect(env.filter((e) => e.valueFrom)).toEqual([
      { name: "GITHUB_APP_ID", valueFrom: { secretKeyRef: { name: "github-app-qa", key: "app-id" } } },
      { name: "GITHUB_INSTALLATION_ID", valueFrom: { secretKeyRef: { name: "github-app-qa", key: "installation-id" } } },
    ]);
    // The pod runner's env, one for one.
    expect(env).toEqual(named(pod, "deploy").script!.env);
  });

  it("lets Argo substitute only validated inputs and the workflow's name, each inside a JSON string", () => {
    const text = named(docs, "deploy-docsrun").resource!.manifest!;
    const refs = [...text.matchAll(/\{\{\s*([^{}]*?)\s*\}\}/g)].map((m) => m[1]);
    expect(new Set(refs)).toEqual(new Set([...DEPLOY_INPUTS.map((n) => `inputs.parameters.${n}`), "workflow.name"]));
    for (const line of text.split("\n").filter((l) => l.includes("{{"))) expect(line).toMatch(/^\s*("[A-Za-z_/.-]+": )?"[^"]*\{\{[^"]*"(,)?$/);
  });

  it("validates against Argo's schema and passes the reference lint", () => {
    const copy = { ...docs, spec: { ...docs.spec, templates: asArgoModel(docs.spec.templates) } };
    expect(() => new WorkflowTemplate(copy).validate()).not.toThrow();
    expect(lintWorkflowSpec(docs.spec)).toEqual([]);
  });

  it("renders no merge vector, not even inside the DocsRun", () => {
    expect(findMergeVectors(JSON.stringify(docsRender, null, 1))).toEqual([]);
    expect(findMergeVectors(JSON.parse(named(docs, "deploy-docsrun").resource!.manifest!).spec.script)).toEqual([]);
    expect(findMergeVectors(readFileSync(require.resolve("../../components/steps/discover-urls.sh"), "utf8"))).toEqual([]);
  });
});

describe.each(["gnu", "busybox"] as const)("the docsrun runner run for real (%s tools)", (tools) => {
  let github: Awaited<ReturnType<typeof githubWorld>>;
  let guardrails: string;
  let busybox: string;
  beforeAll(async () => {
    github = await githubWorld();
    guardrails = guardrailsDir();
    busybox = busyboxDir();
  });
  afterAll(() => github.gh.close());

  const path = () => (tools === "busybox" ? [busybox, standIns!.dir] : [standIns!.dir]);

  /** The DocsRun as its controller would see it: Argo substitutes the manifest, the controller runs spec.script. */
  function docsRunAsScript(): ITemplate {
    const scope: Record<string, string> = { "workflow.name": WORKFLOW };
    for (const [k, v] of Object.entries(PARAMETERS)) scope[`inputs.parameters.${k}`] = v;
    const manifest = JSON.parse(substitute(named(docs, "deploy-docsrun").resource!.manifest!, scope, "DocsRun"));
    return { name: "docsrun", script: { image: manifest.spec.image, command: manifest.spec.command, source: manifest.spec.script, env: manifest.spec.env } as ITemplate["script"] };
  }

  async function discover(world: World, host = HOST) {
    standIns = await startStandIns(["kubectl"], worldTools(world));
    return runScriptTemplate(named(docs, "discover-urls"), {
      parameters: { pr: PR, ns: NS, release: RELEASE, host },
      workflow: { name: WORKFLOW },
      pathPrepend: path(),
      standInEnv: standIns.env,
    });
  }

  it("deploys through the DocsRun's script, then discover-urls returns the commit and the URLs", async () => {
    const world = newWorld();
    standIns = await startStandIns(["kubectl", "helm", "git"], worldTools(world));
    const run = await runScriptTemplate(docsRunAsScript(), {
      pathPrepend: path(),
      standInEnv: { ...standIns.env, ...github.env, GUARDRAILS_DIR: guardrails },
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(clusterLines(standIns.calls, guardrails).filter((l) => !l.startsWith("git"))[0]).toBe(`kubectl get namespace ${NS} -o json --ignore-not-found`);
    expect(standIns.lines()).toContain(`kubectl annotate namespace ${NS} --overwrite implementation-dag/deployed-commit=${HEAD_SHA} implementation-dag/deployed-workflow=${WORKFLOW}`);
    await standIns.close();

    const r = await discover(world);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([`kubectl get namespace ${NS} -o json`, `kubectl get ingress -n ${NS} -o json`]);
    expect(r.outputs).toEqual({ commit: HEAD_SHA });
    expect(JSON.parse(readFileSync(r.artifacts["deploy-urls"], "utf8"))).toEqual({
      ns: NS, release: RELEASE, hosts: [HOST], endpoints: [{ host: HOST, path: "/", url: `https://${HOST}/` }], warnings: [],
    });
  });

  it("refuses a namespace another workflow deployed, so a stale preview is never tested", async () => {
    const world = newWorld({ namespace: previewNamespace({ annotations: { "implementation-dag/deployed-workflow": "implementation-dag-old01", "implementation-dag/deployed-commit": HEAD_SHA } }) });
    const r = await discover(world);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: ns: namespace ${NS} was not deployed by workflow ${WORKFLOW} (last deployed by: implementation-dag-old01)\n`);
    expect(standIns!.lines()).toEqual([`kubectl get namespace ${NS} -o json`]);
    expect(r.outputs).toEqual({});
  });

  it("fails when the namespace does not exist", async () => {
    const r = await discover(newWorld());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ERROR: ns: cannot read namespace ${NS}\n`);
  });

  it("fails when no Ingress names a host", async () => {
    const world = newWorld({ ingresses: [], namespace: previewNamespace({ annotations: { "implementation-dag/deployed-workflow": WORKFLOW, "implementation-dag/deployed-commit": HEAD_SHA } }) });
    const r = await discover(world);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: ingress: no Ingress in namespace ${NS} names the preview host ${HOST} or a host under it; acceptance needs at least one URL (does the chart enable its Ingress, with ingress.host?)\n`);
    expect(r.outputs).toEqual({});
    expect(r.artifacts["deploy-urls"]).toBeUndefined();
  });

  it("leaves out Ingress hosts that are not the preview's host or under it, and lists them as warnings", async () => {
    const deployed = { "implementation-dag/deployed-workflow": WORKFLOW, "implementation-dag/deployed-commit": HEAD_SHA };
    const world = newWorld({
      namespace: previewNamespace({ annotations: deployed }),
      ingresses: [CHART_INGRESS, ingress("sub", [{ host: `www.${HOST}` }]), ingress("hostile", [{ host: "argo-server.argo.svc.cluster.local" }, { host: "kubernetes.default.svc" }])],
    });
    const r = await discover(world);
    expect(r.code).toBe(0);
    const urls = JSON.parse(readFileSync(r.artifacts["deploy-urls"], "utf8"));
    expect(urls.endpoints.map((e: { url: string }) => e.url)).toEqual([`http://www.${HOST}/`, `https://${HOST}/`]);
    expect(urls.warnings).toEqual(["argo-server.argo.svc.cluster.local", "kubernetes.default.svc"].map(
      (h) => `ingress host ${h} (Ingress hostile) is not the preview host ${HOST} or under it: left out, acceptance does not request it`,
    ));
  });

  it("refuses bad input before asking the cluster anything", async () => {
    standIns = await startStandIns(["kubectl"], worldTools(newWorld()));
    const r = await runScriptTemplate(named(docs, "discover-urls"), {
      parameters: { pr: PR, ns: "default", release: "Bad_Release", host: "Pr-42.example.com" },
      workflow: { name: WORKFLOW },
      pathPrepend: path(),
      standInEnv: standIns.env,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ERROR: ns: must be the preview namespace of PR 42 (impl-pr-42, or impl-<owner>-<repo>-<hash>-pr-42)\nERROR: release: must be a DNS-1123 label of at most 53 characters\nERROR: host: must be the preview's host <id>.<domain> (the namespace impl-<id> gives the id), a lowercase DNS name\n");
    expect(standIns.lines()).toEqual([]);
  });
});
