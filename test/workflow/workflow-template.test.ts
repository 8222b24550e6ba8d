import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { WorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import type { IWorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { parseConfig } from "../../components/config";
import { findMergeVectors, findMergeVectorsIn } from "../../components/no-merge";
import { buildWorkflowTemplate, PIPELINE } from "../../components/workflow";
import { lintWorkflowSpec, taskDependencies } from "../../components/argo/lint";
import { STEPS_DIR } from "../../components/argo/script-template";
import { readStackConfig, type Render } from "../../scripts/offline-render";
import { asArgoModel } from "../helpers/argo-schema";
import { implementationDag, previewRender } from "../helpers/render";

let render: Render;
let wt: IWorkflowTemplate;
beforeAll(async () => {
  render = await previewRender();
  wt = implementationDag(render);
});

const dagTasks = () => wt.spec.templates!.find((t) => t.name === wt.spec.entrypoint)!.dag!.tasks!;
/** The tasks after set-params, inside the preview template (under the preview's mutex). */
const previewTasks = () => wt.spec.templates!.find((t) => t.name === "preview")!.dag!.tasks!;
/** Every task of the pipeline in run order: set-params, then the preview template's. */
const pipelineTasks = () => [dagTasks()[0], ...previewTasks()];
/** Templates that run a pod of ours (script or container). */
const podTemplates = () => wt.spec.templates!.filter((t): t is ITemplate => Boolean(t.script ?? t.container));

/** The WorkflowTemplate in the generated model's shape (test/helpers/argo-schema.ts). */
function withScriptContainerNames(obj: IWorkflowTemplate): IWorkflowTemplate {
  return { ...obj, spec: { ...obj.spec, templates: asArgoModel(obj.spec.templates) } };
}

describe("the implementation-dag WorkflowTemplate", () => {
  it("is registered by the program as a WorkflowTemplate under its component", () => {
    const resource = render.resources.find((r) => r.type === "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate" && r.name === "implementation-dag");
    const component = render.resources.find((r) => r.type === "implementation-dag:index:ImplementationDag");
    expect(resource?.name).toBe("implementation-dag");
    expect(component).toBeDefined();
    expect(resource?.parent).toBe(component?.urn);
    expect(wt.metadata).toMatchObject({ name: "implementation-dag", namespace: "argo" });
    expect(wt.spec).toMatchObject({ entrypoint: "dag", onExit: "exit-handler" });
  });

  it("runs the seven tasks as one chain, each only after the one before succeeded, and preview-evidence after acceptance whatever its outcome", () => {
    expect(dagTasks().map((t) => [t.name, t.template, t.depends])).toEqual([
      ["set-params", "set-params", undefined],
      ["preview", "preview", "set-params.Succeeded"],
    ]);
    const all = pipelineTasks();
    expect(all.map((t) => t.name)).toEqual([...PIPELINE.slice(0, -1), "preview-evidence", "approve"]);
    const tasks = all.filter((t) => t.name !== "preview-evidence");
    tasks.forEach((task, i) => {
      // The first task of the preview template runs when the template does: after set-params.
      if (task.name === "approve") return;
      expect(taskDependencies(task)).toEqual(i < 2 ? [] : [PIPELINE[i - 1]]);
      if (i > 1) expect(task.depends).toBe(`${PIPELINE[i - 1]}.Succeeded`);
    });
    // Evidence after a passed, failed or errored acceptance, never after a failed deploy; approve
    // only when acceptance passed and the evidence is there. approve stays a child of acceptance,
    // so an omitted approve after a failed acceptance still fails the DAG (assessDAGPhase).
    const byName = Object.fromEntries(all.map((t) => [t.name, t]));
    expect(byName["preview-evidence"].depends).toBe("deploy.Succeeded && (acceptance.Succeeded || acceptance.Failed || acceptance.Errored)");
    expect(byName.approve.depends).toBe("acceptance.Succeeded && preview-evidence.Succeeded");
  });

  it("holds the preview's mutex from set-params, taken after set-params validated the names it comes from", () => {
    // A workflow-level mutex would be built from the raw parameters, before anything checked them.
    expect(wt.spec.synchronization).toBeUndefined();
    const preview = wt.spec.templates!.find((t) => t.name === "preview")!;
    expect(preview.synchronization).toEqual({ mutexes: [{ name: "{{inputs.parameters.mutex}}" }] });
    const args = Object.fromEntries(dagTasks()[1].arguments!.parameters!.map((p) => [p.name, p.value]));
    expect(args.mutex).toBe("{{tasks.set-params.outputs.parameters.mutex}}");
    // Everything the preview template takes comes from set-params, under the same name.
    for (const [name, value] of Object.entries(args)) expect(value).toBe(`{{tasks.set-params.outputs.parameters.${name}}}`);
  });

  it("takes the seed's parameters, the acceptance thresholds and what the agents are given", () => {
    const params = Object.fromEntries((wt.spec.arguments!.parameters ?? []).map((p) => [p.name, p.value]));
    expect(params).toEqual({
      owner: undefined, repo: undefined, pr: undefined, commit: "", domain: "preview.example.com",
      chartPath: "charts/app", valuesFile: "values-preview.yaml", imageTag: "",
      // Empty: the repository's setting, else the stack's (set-params resolves them).
      min_success_pct: "", max_p95_ms: "", requests_per_endpoint: "",
      taskId: "", service: "", model: "claude-sonnet-4-20250514", docsRepository: "", docsProjectDirectory: "docs",
      workingDirectory: ".", docsBranch: "main", continueSession: "false", overwriteMemory: "false", taskRequirements: "",
    });
  });

  /** The parameters the platform's agent template reads, in its order. */
  const CODERUN = ["task-id", "service-id", "repository-url", "docs-repository-url", "docs-project-directory", "working-directory",
    "github-app", "model", "continue-session", "overwrite-memory", "docs-branch", "task-requirements"];
  const agentTemplate = (name: string, of: IWorkflowTemplate = wt) => of.spec.templates!.find((t) => t.name === name)!;
  const childOf = (t: ITemplate) => JSON.parse(t.resource!.manifest!) as {
    apiVersion: string; kind: string; metadata: Record<string, unknown>;
    spec: { workflowTemplateRef: Record<string, unknown>; serviceAccountName?: string; activeDeadlineSeconds: number; arguments: { parameters: Array<{ name: string; value: string }> } } & Record<string, unknown>;
  };

  it("runs each agent as a child Workflow of the agent template, given every parameter the template reads", () => {
    // A templateRef call would make Argo validate the agent template's workflow.parameters against ours.
    expect(pipelineTasks().filter((t) => t.templateRef)).toEqual([]);
    for (const [task, app] of [["implement", "rex"], ["clippy-format", "clippy"], ["qa-testing", "qa"]]) {
      const t = agentTemplate(task);
      expect(t.resource).toMatchObject({
        action: "create",
        setOwnerReference: true,
        successCondition: "status.phase == Succeeded",
        failureCondition: "status.phase in (Failed,Error)",
      });
      const child = childOf(t);
      expect(child).toMatchObject({ apiVersion: "argoproj.io/v1alpha1", kind: "Workflow", metadata: { generateName: `agent-${task}-` } });
      expect(child.spec.workflowTemplateRef).toEqual({ name: "coderun-template" });
      expect(Object.keys(child.spec).sort()).toEqual(["activeDeadlineSeconds", "arguments", "workflowTemplateRef"]);
      expect(child.spec.arguments.parameters).toEqual(CODERUN.map((name) => ({
        name, value: name === "github-app" ? app : `{{inputs.parameters.${name}}}`,
      })));
      expect(t.inputs!.parameters!.map((p) => p.name)).toEqual(CODERUN.filter((n) => n !== "github-app"));
      expect(t.outputs!.parameters).toEqual([{ name: "workflow", valueFrom: { jsonPath: "{.metadata.name}" } }]);
      const dagTask = previewTasks().find((x) => x.name === task)!;
      expect(dagTask.template).toBe(task);
      expect(dagTask.arguments!.parameters).toEqual(CODERUN.filter((n) => n !== "github-app").map((name) => ({
        name, value: `{{inputs.parameters.${name}}}`,
      })));
    }
  });

  it("stops the agents a run leaves running and cleans up, side by side, on every outcome", () => {
    const exit = wt.spec.templates!.find((t) => t.name === wt.spec.onExit)!;
    expect(exit.steps).toEqual([[{ name: "stop-agents", template: "stop-agents" }, { name: "cleanup", template: "cleanup" }]]);
    // The children carry their parent's uid, which stop-agents selects them by.
    for (const task of ["implement", "clippy-format", "qa-testing"]) {
      expect(childOf(agentTemplate(task)).metadata.labels).toMatchObject({ "implementation-dag/parent-uid": "{{workflow.uid}}", "implementation-dag/agent": task });
    }
  });

  it("never runs an agent as the pipeline's service account: the step as the agents' own, the child as the template's", () => {
    for (const task of ["implement", "clippy-format", "qa-testing"]) {
      const t = agentTemplate(task);
      expect(t.serviceAccountName).toBe("implementation-dag-agents");
      expect(childOf(t).spec.serviceAccountName).toBeUndefined();
    }
    expect(wt.spec.serviceAccountName).toBe("implementation-dag");
  });

  it("takes the agent template, its scope, the child's service account and each agent's GitHub App from config", () => {
    const cfg = parseConfig({
      ...readStackConfig("preview"),
      "implementation-dag:agent": JSON.stringify({
        templateName: "agents", clusterScope: true, serviceAccountName: "coder",
        githubApps: { rex: "5DLabs-Rex", clippy: "5DLabs-Clippy", qa: "5DLabs-Tess" },
      }),
    });
    const built = buildWorkflowTemplate(cfg);
    const apps = ["implement", "clippy-format", "qa-testing"].map((task) => {
      const child = childOf(agentTemplate(task, built));
      expect(child.spec.workflowTemplateRef).toEqual({ name: "agents", clusterScope: true });
      expect(child.spec.serviceAccountName).toBe("coder");
      return child.spec.arguments.parameters.find((p) => p.name === "github-app")!.value;
    });
    expect(apps).toEqual(["5DLabs-Rex", "5DLabs-Clippy", "5DLabs-Tess"]);
  });

  it("gives each agent its own deadline, and its child Workflow stops 60 s before the step gives up", () => {
    const cfg = parseConfig({
      ...readStackConfig("preview"),
      "implementation-dag:deadlines": JSON.stringify({ workflowSeconds: 5000, implementSeconds: 900, clippyFormatSeconds: 600, qaTestingSeconds: 1200 }),
    });
    const built = buildWorkflowTemplate(cfg);
    expect(["implement", "clippy-format", "qa-testing"].map((task) => {
      const t = agentTemplate(task, built);
      return [t.activeDeadlineSeconds, childOf(t).spec.activeDeadlineSeconds];
    })).toEqual([[900, 840], [600, 540], [1200, 1140]]);
    expect(built.spec.activeDeadlineSeconds).toBe(5000);
  });

  it("hands later tasks the names set-params derived, never recomputed", () => {
    // Only set-params reads the raw parameters; every later task gets what set-params validated.
    for (const task of pipelineTasks().filter((t) => t.name !== "set-params")) {
      expect(JSON.stringify(task.arguments ?? {}), task.name).not.toContain("workflow.parameters");
    }
    const byName = Object.fromEntries(pipelineTasks().map((t) => [t.name, t]));
    const args = (task: string) => Object.fromEntries((byName[task].arguments?.parameters ?? []).map((p) => [p.name, p.value]));
    const handedOn = Object.fromEntries(dagTasks()[1].arguments!.parameters!.map((p) => [p.name, p.value]));
    for (const name of ["ns", "release", "host", "image_tag", "commit"]) {
      expect(args("deploy")[name]).toBe(`{{inputs.parameters.${name}}}`);
      expect(handedOn[name]).toBe(`{{tasks.set-params.outputs.parameters.${name}}}`);
    }
    expect(args("approve").host).toBe("{{inputs.parameters.host}}");
    expect(byName.acceptance.arguments!.artifacts).toEqual([{ name: "deploy-urls", from: "{{tasks.deploy.outputs.artifacts.deploy-urls}}" }]);
    expect(byName.approve.arguments!.artifacts).toEqual([
      { name: "acceptance-report", from: "{{tasks.acceptance.outputs.artifacts.acceptance-report}}" },
      { name: "preview-evidence", from: "{{tasks.preview-evidence.outputs.artifacts.preview-evidence}}" },
    ]);
    expect(args("preview-evidence")).toEqual({ pr: "{{inputs.parameters.pr}}", ns: "{{inputs.parameters.ns}}" });
    const setParams = wt.spec.templates!.find((t) => t.name === "set-params")!;
    // In any order after the derived names (components/parameters.ts orders the rest).
    const outputs = setParams.outputs!.parameters!.map((p) => [p.name, p.globalName]);
    expect(outputs.slice(0, 8)).toEqual(["ns", "release", "host", "domain", "image_tag", "commit", "mutex", "repository"].map((n) => [n, n]));
    expect(outputs.slice(8).sort()).toEqual([
      ...["owner", "repo", "pr", "chartPath", "valuesFile"].map((n) => [n, undefined]),
      ...["min_success_pct", "max_p95_ms", "requests_per_endpoint", "max_p99_ms", "judge", "concurrency", "timeout_ms", "expect", "paths",
        "insecure", "connect_to", "ready_consecutive", "ready_timeout_s", "rate", "duration_s"].map((n) => [n, undefined]),
      ...CODERUN.filter((n) => n !== "github-app").map((n) => [n, undefined]),
    ].sort());
  });

  it("gives acceptance every input from set-params' outputs, through the preview template, and no default of its own", () => {
    const acceptance = wt.spec.templates!.find((t) => t.name === "acceptance")!;
    const inputs = (acceptance.inputs?.parameters ?? []).map((p) => p.name);
    // The preview's host (bounding what it may request) and the 15 settings.
    expect(inputs).toHaveLength(16);
    expect(inputs[0]).toBe("host");
    expect((acceptance.inputs?.parameters ?? []).filter((p) => p.value !== undefined || p.default !== undefined)).toEqual([]);
    const task = pipelineTasks().find((t) => t.name === "acceptance")!;
    const handedOn = Object.fromEntries(dagTasks()[1].arguments!.parameters!.map((p) => [p.name, p.value]));
    const setParamsOutputs = wt.spec.templates!.find((t) => t.name === "set-params")!.outputs!.parameters!.map((p) => p.name);
    expect(Object.fromEntries(task.arguments!.parameters!.map((p) => [p.name, p.value]))).toEqual(
      Object.fromEntries(inputs.map((name) => [name, `{{inputs.parameters.${name}}}`])),
    );
    for (const name of inputs) {
      expect(handedOn[name], name).toBe(`{{tasks.set-params.outputs.parameters.${name}}}`);
      expect(setParamsOutputs, name).toContain(name);
    }
  });

  it("renders the acceptance settings into set-params' env from the stack config, never as parameters", () => {
    const cfg = parseConfig({
      ...readStackConfig("preview"),
      "implementation-dag:acceptance": JSON.stringify({ maxP95Ms: 900, repositories: { "Example-Org/API": { maxP95Ms: 300, rate: 2.5 } } }),
    });
    const setParams = buildWorkflowTemplate(cfg).spec!.templates!.find((t) => t.name === "set-params")!;
    const env = Object.fromEntries(setParams.script!.env!.map((e) => [e.name, e.value]));
    expect(JSON.parse(env.ACCEPTANCE_REPOSITORIES!)).toEqual({ "example-org/api": { max_p95_ms: "300", rate: "2.5" } });
    expect(JSON.parse(env.ACCEPTANCE_GLOBAL!)).toMatchObject({ max_p95_ms: "900", rate: "", paths: "", connect_to: "" });
    expect(`${env.ACCEPTANCE_GLOBAL}${env.ACCEPTANCE_REPOSITORIES}`).not.toContain("{{");
    expect((setParams.inputs?.parameters ?? []).map((p) => p.name)).not.toContain("ACCEPTANCE_REPOSITORIES");
  });

  it("validates against Argo's schema", () => {
    expect(() => new WorkflowTemplate(withScriptContainerNames(wt)).validate()).not.toThrow();
  });

  it("fails Argo's schema without that one fill-in, so the validation is real", () => {
    expect(() => new WorkflowTemplate(wt).validate()).toThrow(/name/);
  });

  it("passes the reference lint: every reference resolves, every dependency exists, no cycle", () => {
    expect(lintWorkflowSpec(wt.spec)).toEqual([]);
  });

  it("keeps every value out of executable text: no {{ in any source, command or args", () => {
    for (const t of wt.spec.templates ?? []) {
      const c = t.script ?? t.container;
      expect(t.script?.source ?? "").not.toContain("{{");
      expect(JSON.stringify(c?.command ?? [])).not.toContain("{{");
      expect(JSON.stringify(c?.args ?? [])).not.toContain("{{");
    }
  });

  it("embeds each step script verbatim from components/steps", () => {
    for (const t of podTemplates().filter((x) => x.script)) {
      const file = path.join(STEPS_DIR, `${t.name}.sh`);
      const text = readFileSync(file, "utf8");
      expect(t.script!.source!.startsWith(text.split("\nset -euo pipefail\n")[0])).toBe(true);
      expect(t.script!.command).toEqual(["bash"]);
    }
  });

  it("runs every step pod Pod-Security-restricted with the seed's requests and limits", () => {
    expect(wt.spec.securityContext).toEqual({
      runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: "RuntimeDefault" },
    });
    expect(wt.spec.volumes).toContainEqual({ name: "scratch", emptyDir: { sizeLimit: "2Gi" } });
    expect(podTemplates().length).toBeGreaterThanOrEqual(5);
    for (const t of podTemplates()) {
      const c = (t.script ?? t.container)!;
      expect(c.securityContext, t.name).toMatchObject({
        runAsNonRoot: true, allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" },
      });
      expect(c.securityContext!.runAsUser, t.name).toBeGreaterThan(0);
      expect(c.resources, t.name).toEqual({ requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "2", memory: "4Gi" } });
      expect(c.volumeMounts, t.name).toContainEqual({ name: "scratch", mountPath: "/tmp" });
      expect(t.activeDeadlineSeconds, t.name).toBeGreaterThan(0);
      expect(c.image, t.name).toMatch(/:[^/:]+$|@sha256:/);
    }
  });

  it("bounds the run: a workflow deadline and garbage collection", () => {
    expect(wt.spec.activeDeadlineSeconds).toBe(9000);
    expect(wt.spec.podGC).toEqual({ strategy: "OnPodSuccess" });
    expect(wt.spec.ttlStrategy).toEqual({ secondsAfterSuccess: 86400, secondsAfterFailure: 259200 });
    expect(wt.spec.serviceAccountName).toBe("implementation-dag");
  });

  it("gives set-params no Kubernetes token", () => {
    const setParams = wt.spec.templates!.find((t) => t.name === "set-params")!;
    expect(setParams.automountServiceAccountToken).toBe(false);
    expect(setParams.executor).toEqual({ serviceAccountName: "implementation-dag-executor" });
  });

  it("can merge nothing: no merge endpoint, mutation or push anywhere in the render or the step scripts", () => {
    const scripts = readdirSync(STEPS_DIR, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".sh"));
    expect(scripts.length).toBeGreaterThan(0);
    expect(findMergeVectorsIn(render)).toEqual([]);
    for (const f of scripts) expect(findMergeVectors(readFileSync(path.join(STEPS_DIR, f), "utf8")), f).toEqual([]);
  });

  it("the merge scan finds each vector it lists", () => {
    for (const text of [
      "curl -X PUT https://api.github.com/repos/o/r/pulls/1/merge",
      "POST /repos/o/r/merges",
      "PUT /repos/o/r/pulls/1/update-branch",
      "mutation { mergePullRequest(input: {}) { clientMutationId } }",
      "enablePullRequestAutoMerge",
      "enqueuePullRequest",
      "git push origin HEAD:main",
      "git -C repo merge feature",
    ]) expect(findMergeVectors(text), text).not.toEqual([]);
  });
});

describe("the reference lint", () => {
  const spec = () => structuredClone(wt.spec);

  it("reports a reference to an undeclared workflow parameter", () => {
    const s = spec();
    s.templates![0].dag!.tasks![0].arguments!.parameters![0].value = "{{workflow.parameters.nope}}";
    expect(lintWorkflowSpec(s)).toEqual([expect.stringContaining("no workflow parameter nope")]);
  });

  it("reports a dependency on an unknown task", () => {
    const s = spec();
    s.templates![1].dag!.tasks![1].depends = "ghost.Succeeded";
    expect(lintWorkflowSpec(s)).toContain("dag preview task clippy-format: depends on unknown task ghost");
  });

  it("reports a cycle", () => {
    const s = spec();
    s.templates![1].dag!.tasks![0].depends = "approve.Succeeded";
    expect(lintWorkflowSpec(s).some((p) => p.startsWith("dag preview: cycle through"))).toBe(true);
  });

  it("reports reading the outputs of a task that does not run before", () => {
    const s = spec();
    s.templates![1].dag!.tasks![3].arguments!.parameters![0].value = "{{tasks.approve.outputs.parameters.x}}";
    expect(lintWorkflowSpec(s).join("\n")).toContain("which it does not run after");
  });

  it("reports {{ in a script source", () => {
    const s = spec();
    const t = s.templates!.find((x) => x.name === "set-params")!;
    t.script!.source += "\necho {{inputs.parameters.pr}}\n";
    expect(lintWorkflowSpec(s)).toContain("set-params.script.source: executable text contains {{");
  });
});
