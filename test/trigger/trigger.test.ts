import { beforeAll, describe, expect, it } from "vitest";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { ValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import { ValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import { Workflow } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Workflow";
import type { IValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import type { IWorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import { ConfigError, parseConfig } from "../../components/config";
import { triggerUser, triggerWorkflowsPolicyName, TRIGGER_RULES } from "../../components/trigger";
import { readStackConfig, renderStack, type KubeObject, type Render } from "../../scripts/offline-render";
import { objectsOf, previewRender, templateNamed } from "../helpers/render";
import { runScriptTemplate } from "../../simulator/argo-step";
import { admit, type Obj } from "../helpers/admission";
import { argoEventsValidator } from "../helpers/argo-events-schema";
import { lintRbac } from "../security/rbac-lint";
import { deployerClusterRole, guardrailsClusterRole } from "../../components/rbac";
import { filterData, gjsonGet, SensorModel, type Fired, type Json, type SensorSpec } from "../helpers/argo-events";
import { pullRequestEvent, type PullRequestAction, type PullRequestEventOptions } from "../helpers/github-webhooks";

const APP = "example-org/example-app";
const API = "example-org/example-api";
const SLUGS = { rex: "acme-rex", clippy: "acme-clippy", qa: "acme-qa" };
const SOURCE = { name: "github", eventName: "pull-requests" };
const previewConfig = () => parseConfig(readStackConfig("preview"));

/** The preview stack's `github` with a second repository, and the trigger on. */
function triggerOverrides(trigger: Record<string, unknown>): Record<string, unknown> {
  const github = JSON.parse(readStackConfig("preview")["implementation-dag:github"]) as { repositories: Array<{ owner: string; repo: string }> };
  github.repositories = [{ owner: "example-org", repo: "example-app" }, { owner: "example-org", repo: "example-api" }];
  return { github, trigger: { enabled: true, agentAppSlugs: SLUGS, ...trigger } };
}

const sensorOf = (render: Render): KubeObject => {
  const [sensor] = objectsOf(render, "Sensor");
  if (!sensor) throw new Error("the render has no Sensor");
  return sensor;
};

type Params = Record<string, string>;
/** What fired: trigger name, the template its Workflow references and the arguments it passes. */
function summary(fired: Fired[]): Array<{ template: string; parameters: Params }> {
  return fired.map((f) => {
    const wf = f.resource as { spec: { workflowTemplateRef: { name: string }; arguments: { parameters: Array<{ name: string; value: string }> } } };
    return { template: wf.spec.workflowTemplateRef.name, parameters: Object.fromEntries(wf.spec.arguments.parameters.map((p) => [p.name, p.value])) };
  });
}

const human = { login: "octocat", type: "User" } as const;
const bot = (login: string) => ({ login, type: "Bot" }) as const;
const pr = (o: Partial<PullRequestEventOptions> = {}): PullRequestEventOptions => ({ repository: APP, number: 7, ...o });
const run = (repository = APP, number = 7) => {
  const [owner, repo] = repository.split("/");
  return [{ template: "implementation-dag", parameters: { owner, repo, pr: String(number) } }];
};
const teardown = (repository = APP, number = 7) => {
  const [owner, repo] = repository.split("/");
  return [{ template: "preview-teardown", parameters: { owner, repo, pr: String(number) } }];
};

type Row = [what: string, action: PullRequestAction, options: PullRequestEventOptions, expected: ReturnType<typeof run>];

describe("trigger: off by default", () => {
  let render: Render;
  beforeAll(async () => {
    render = await previewRender();
  });

  it("renders no Sensor, no trigger account, Role or policy", () => {
    expect(previewConfig().trigger.enabled).toBe(false);
    expect(objectsOf(render, "Sensor")).toEqual([]);
    expect(render.manifests.filter((m) => (m.metadata.name ?? "").includes("trigger"))).toEqual([]);
    expect(render.resources.filter((r) => r.type.includes("Trigger"))).toEqual([]);
  });

  it("says runs start by hand", () => {
    expect(render.outputs.triggerSensor).toBe("");
    expect(render.outputs.runsStart).toBe(`by hand (trigger.enabled is false): ${String(render.outputs.submitCommand)}`);
  });
});

describe("trigger config", () => {
  const flat = (trigger: object, repositories: object[] = [{ owner: "example-org", repo: "example-app" }]) => ({
    "implementation-dag:github": JSON.stringify({ apps: { rex: { appId: "1" }, clippy: { appId: "2" }, qa: { appId: "3" } }, repositories }),
    "implementation-dag:trigger": JSON.stringify(trigger),
  });
  const problems = (f: Record<string, string>) => {
    try {
      parseConfig(f);
      return [];
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
  };

  it("needs the agents' App slugs and listed repositories when enabled, naming each key", () => {
    expect(problems(flat({ enabled: true }, []))).toEqual([
      "implementation-dag:github.repositories: must list the repositories whose pull requests start runs when trigger.enabled is true",
      "implementation-dag:trigger.agentAppSlugs.rex: must name the rex agent's GitHub App slug when trigger.enabled is true: its pushes (as <slug>[bot]) must not start runs",
      "implementation-dag:trigger.agentAppSlugs.clippy: must name the clippy agent's GitHub App slug when trigger.enabled is true: its pushes (as <slug>[bot]) must not start runs",
      "implementation-dag:trigger.agentAppSlugs.qa: must name the qa agent's GitHub App slug when trigger.enabled is true: its pushes (as <slug>[bot]) must not start runs",
    ]);
    expect(problems(flat({ enabled: true, agentAppSlugs: SLUGS }))).toEqual([]);
  });

  it("refuses a bot login where a slug belongs, a label that is no plain label, and one of the pipeline's accounts", () => {
    expect(problems(flat({ enabled: true, agentAppSlugs: { ...SLUGS, rex: "acme-rex[bot]" } }))).toEqual([
      expect.stringMatching(/^implementation-dag:trigger\.agentAppSlugs\.rex: must be empty or a GitHub App slug/),
    ]);
    expect(problems(flat({ enabled: true, agentAppSlugs: SLUGS, label: "run\"me" }))).toEqual([
      expect.stringMatching(/^implementation-dag:trigger\.label: must be empty or a GitHub label/),
    ]);
    expect(problems(flat({ enabled: true, agentAppSlugs: SLUGS, serviceAccountName: "implementation-dag" }))).toEqual([
      "implementation-dag:trigger.serviceAccountName: must be an account of its own, not one of the pipeline's or the agents'",
    ]);
  });
});

/** The preview stack with the trigger on (and its defaults), rendered once for the file. */
let triggerRender: Promise<Render> | undefined;
const renderWithTrigger = () => (triggerRender ??= renderStack({ overrides: triggerOverrides({}) }));

describe("trigger: rendered when enabled", () => {
  let render: Render;
  beforeAll(async () => {
    render = structuredClone(await renderWithTrigger());
  });

  it("renders a Sensor the Argo Events schema accepts, in the workflows namespace", () => {
    const sensor = sensorOf(render);
    const validate = argoEventsValidator("Sensor");
    expect(validate(sensor), JSON.stringify(validate.errors)).toBe(true);
    expect(sensor.metadata).toMatchObject({ name: "implementation-dag-argo", namespace: "argo" });
  });

  it("the strict schema catches a misspelt field (the check can fail)", () => {
    const sensor = structuredClone(sensorOf(render)) as unknown as { spec: { dependencies: Array<{ filters: object }> } };
    sensor.spec.dependencies[0].filters = { datas: [] };
    expect(argoEventsValidator("Sensor")(sensor)).toBe(false);
  });

  it("runs the Sensor under its own account, allowed only to create and list Workflows and get WorkflowTemplates in the workflows namespace", () => {
    const [sa] = objectsOf(render, "ServiceAccount", "implementation-dag-trigger");
    const [role] = objectsOf(render, "Role", "implementation-dag-trigger");
    const [binding] = objectsOf(render, "RoleBinding", "implementation-dag-trigger");
    for (const [Model, obj] of [[ServiceAccount, sa], [Role, role], [RoleBinding, binding]] as const) new Model(obj as never).validate();
    expect((sensorOf(render).spec as { template: { serviceAccountName: string } }).template.serviceAccountName).toBe("implementation-dag-trigger");
    expect(role).toMatchObject({ metadata: { namespace: "argo" }, rules: TRIGGER_RULES });
    expect(TRIGGER_RULES).toEqual([
      { apiGroups: ["argoproj.io"], resources: ["workflows"], verbs: ["create", "list"] },
      { apiGroups: ["argoproj.io"], resources: ["workflowtemplates"], verbs: ["get"] },
    ]);
    expect(binding).toMatchObject({
      metadata: { namespace: "argo" },
      roleRef: { kind: "Role", name: "implementation-dag-trigger" },
      subjects: [{ kind: "ServiceAccount", name: "implementation-dag-trigger", namespace: "argo" }],
    });
    expect(render.manifests.filter((m) => m.kind === "ClusterRoleBinding" && JSON.stringify(m).includes("implementation-dag-trigger"))).toEqual([]);
    const cfg = previewConfig();
    expect(lintRbac(render.manifests, [deployerClusterRole(cfg), guardrailsClusterRole(cfg)])).toEqual([]);
  });

  it("puts the Sensor and its account in trigger.namespace, the Workflows and the Role in the workflows namespace", async () => {
    const other = await renderStack({ overrides: triggerOverrides({ namespace: "argo-events" }) });
    expect(sensorOf(other).metadata).toMatchObject({ name: "implementation-dag-argo", namespace: "argo-events" });
    expect(objectsOf(other, "ServiceAccount", "implementation-dag-trigger")[0].metadata.namespace).toBe("argo-events");
    expect(objectsOf(other, "RoleBinding", "implementation-dag-trigger")[0]).toMatchObject({
      metadata: { namespace: "argo" }, subjects: [{ namespace: "argo-events" }],
    });
    const resources = (sensorOf(other).spec as { triggers: Array<{ template: { argoWorkflow: { source: { resource: { metadata: { namespace: string } } } } } }> }).triggers
      .map((t) => t.template.argoWorkflow.source.resource.metadata.namespace);
    expect(new Set(resources)).toEqual(new Set(["argo"]));
  });

  it("every trigger waits for its one dependency, not for all of them (Argo Events' default)", () => {
    const spec = (sensorOf(render) as unknown as SensorSpec).spec;
    const names = spec.dependencies.map((d) => d.name);
    expect(spec.triggers.map((t) => t.template.conditions)).toEqual(names);
  });

  it("says how runs start in the stack outputs", () => {
    expect(render.outputs.triggerSensor).toBe("argo/implementation-dag-argo");
    expect(render.outputs.runsStart).toBe(
      `Sensor argo/implementation-dag-argo submits implementation-dag when a non-draft pull request of ${APP}, ${API} is opened, reopened, marked ready or pushed to ` +
        `(not by acme-rex[bot], acme-clippy[bot], acme-qa[bot]), and preview-teardown when one closes; by hand: ${String(render.outputs.submitCommand)}`,
    );
  });

  it("fences the trigger's account with a fail-closed policy bound to Deny", () => {
    const [policy] = objectsOf(render, "ValidatingAdmissionPolicy", triggerWorkflowsPolicyName(previewConfig()));
    const [binding] = objectsOf(render, "ValidatingAdmissionPolicyBinding", "implementation-dag-argo-trigger-workflows");
    new ValidatingAdmissionPolicy(policy as never).validate();
    new ValidatingAdmissionPolicyBinding(binding as never).validate();
    expect(policy).toMatchObject({ spec: { failurePolicy: "Fail" } });
    expect(binding).toMatchObject({ spec: { policyName: "implementation-dag-argo-trigger-workflows", validationActions: ["Deny"] } });
  });
});

describe("trigger: which events start what (no label configured)", () => {
  let sensor: SensorSpec;
  beforeAll(async () => {
    sensor = sensorOf(structuredClone(await renderWithTrigger())) as unknown as SensorSpec;
  });

  const rows: Row[] = [
    ["a PR opened", "opened", pr(), run()],
    ["a PR of the second listed repository opened", "opened", pr({ repository: API, number: 12 }), run(API, 12)],
    ["a PR reopened", "reopened", pr(), run()],
    ["a draft marked ready", "ready_for_review", pr(), run()],
    ["a draft PR opened", "opened", pr({ draft: true }), []],
    ["new commits pushed by a person", "synchronize", pr({ sender: human }), run()],
    ["new commits pushed by another bot", "synchronize", pr({ sender: bot("dependabot[bot]") }), run()],
    ["new commits pushed by the rex agent", "synchronize", pr({ sender: bot("acme-rex[bot]") }), []],
    ["new commits pushed by the clippy agent", "synchronize", pr({ sender: bot("acme-clippy[bot]") }), []],
    ["new commits pushed by the qa agent", "synchronize", pr({ sender: bot("acme-qa[bot]") }), []],
    ["new commits on a draft", "synchronize", pr({ draft: true }), []],
    ["a label added", "labeled", pr({ labels: ["bug"], label: "bug" }), []],
    ["a PR closed", "closed", pr(), teardown()],
    ["a draft PR closed", "closed", pr({ draft: true }), teardown()],
    ["a fork's PR closed", "closed", pr({ headRepository: "someone/example-app" }), teardown()],
    ["a PR of a repository not listed", "opened", pr({ repository: "example-org/other" }), []],
    ["a PR of a repository whose name only starts like a listed one", "opened", pr({ repository: "example-org/example-app-2" }), []],
    ["a PR of a listed repository's name under another owner", "opened", pr({ repository: "evil-org/example-app" }), []],
    ["a PR closed in a repository not listed", "closed", pr({ repository: "example-org/other" }), []],
    ["a PR from a fork", "opened", pr({ headRepository: "someone/example-app" }), []],
    ["new commits from a fork", "synchronize", pr({ headRepository: "someone/example-app" }), []],
  ];

  it.each(rows)("%s (%s)", (_what, action, options, expected) => {
    expect(summary(new SensorModel(sensor).receive(pullRequestEvent(SOURCE, action, options)))).toEqual(expected);
  });

  it("matches repositories as GitHub names them, case-insensitively, and passes the payload's spelling on", () => {
    const fired = new SensorModel(sensor).receive(pullRequestEvent(SOURCE, "opened", pr({ repository: "Example-Org/Example-App" })));
    expect(summary(fired)).toEqual(run("Example-Org/Example-App"));
  });

  it("ignores other webhooks and other EventSources", () => {
    const event = pullRequestEvent(SOURCE, "opened", pr());
    const body = (event.data as { body: Record<string, Json> }).body;
    expect(new SensorModel(sensor).receive({ ...event, data: { ...(event.data as object), body: { ...body, "X-GitHub-Event": "pull_request_review" } } })).toEqual([]);
    expect(new SensorModel(sensor).receive({ ...event, eventSourceName: "gitlab" })).toEqual([]);
  });

  it("a run and its teardown, one event each, in a row of events", () => {
    const model = new SensorModel(sensor);
    const fired = (["opened", "synchronize", "labeled", "closed"] as const).flatMap((a) =>
      summary(model.receive(pullRequestEvent(SOURCE, a, pr({ sender: a === "synchronize" ? bot("acme-rex[bot]") : human, label: "x", labels: ["x"] })))));
    expect(fired).toEqual([...run(), ...teardown()]);
  });
});

describe("trigger: which events start what (label configured)", () => {
  let render: Render;
  let sensor: SensorSpec;
  beforeAll(async () => {
    render = await renderStack({ overrides: triggerOverrides({ label: "preview" }) });
    sensor = sensorOf(render) as unknown as SensorSpec;
  });

  it("says in the stack outputs that the label starts runs", () => {
    expect(String(render.outputs.runsStart)).toMatch(
      /^Sensor argo\/implementation-dag-argo submits implementation-dag when a non-draft pull request of .* is labelled preview, or carrying it and reopened, marked ready or pushed to /,
    );
  });

  const rows: Row[] = [
    ["a PR opened with the label set (GitHub sends labeled for it too)", "opened", pr({ labels: ["preview"] }), []],
    ["the label added", "labeled", pr({ labels: ["preview"], label: "preview" }), run()],
    ["the label added, spelt in other case", "labeled", pr({ labels: ["Preview"], label: "Preview" }), run()],
    ["another label added", "labeled", pr({ labels: ["preview", "bug"], label: "bug" }), []],
    ["a label that only starts like it added", "labeled", pr({ labels: ["preview-later"], label: "preview-later" }), []],
    ["the label added to a draft", "labeled", pr({ draft: true, labels: ["preview"], label: "preview" }), []],
    ["the label added to a fork's PR", "labeled", pr({ headRepository: "someone/example-app", labels: ["preview"], label: "preview" }), []],
    ["a labelled PR reopened", "reopened", pr({ labels: ["bug", "preview"] }), run()],
    ["a labelled draft marked ready", "ready_for_review", pr({ labels: ["preview"] }), run()],
    ["a PR without the label reopened", "reopened", pr({ labels: ["bug"] }), []],
    ["new commits on a labelled PR by a person", "synchronize", pr({ labels: ["bug", "preview"] }), run()],
    ["new commits on a PR without the label", "synchronize", pr({ labels: ["preview-later"] }), []],
    ["new commits on a labelled PR by the rex agent", "synchronize", pr({ labels: ["preview"], sender: bot("acme-rex[bot]") }), []],
    ["new commits on a labelled PR by the qa agent", "synchronize", pr({ labels: ["preview"], sender: bot("acme-qa[bot]") }), []],
    ["a PR closed, label or not", "closed", pr(), teardown()],
  ];

  it.each(rows)("%s (%s)", (_what, action, options, expected) => {
    expect(summary(new SensorModel(sensor).receive(pullRequestEvent(SOURCE, action, options)))).toEqual(expected);
  });
});

describe("trigger: what it submits is accepted", () => {
  let render: Render;
  let sensor: SensorSpec;
  let policy: IValidatingAdmissionPolicy;
  const argoNamespace: Obj = { metadata: { name: "argo" } };
  beforeAll(async () => {
    render = structuredClone(await renderWithTrigger());
    sensor = sensorOf(render) as unknown as SensorSpec;
    policy = objectsOf(render, "ValidatingAdmissionPolicy", "implementation-dag-argo-trigger-workflows")[0] as unknown as IValidatingAdmissionPolicy;
  });
  const submitted = (action: PullRequestAction): Obj => {
    const [fired] = new SensorModel(sensor).receive(pullRequestEvent(SOURCE, action, pr()));
    return fired.resource as Obj;
  };
  const template = (name: string) => objectsOf(render, "WorkflowTemplate", name)[0] as unknown as IWorkflowTemplate;

  it("is a valid Workflow that gives each required parameter of its template, and only declared ones", () => {
    for (const action of ["opened", "closed"] as const) {
      const wf = submitted(action) as unknown as { spec: { workflowTemplateRef: { name: string }; arguments: { parameters: Array<{ name: string }> } } };
      new Workflow(wf as never).validate();
      const declared = template(wf.spec.workflowTemplateRef.name).spec?.arguments?.parameters ?? [];
      const given = wf.spec.arguments.parameters.map((p) => p.name);
      expect(given.filter((n) => !declared.some((d) => d.name === n))).toEqual([]);
      expect(declared.filter((d) => d.value === undefined && !given.includes(d.name)).map((d) => d.name)).toEqual([]);
    }
  });

  it("passes the trigger's admission policy; the policy refuses anything more", () => {
    const user = triggerUser(previewConfig());
    const req = (object: Obj) => ({ user, operation: "CREATE" as const, object: { apiVersion: "argoproj.io/v1alpha1", kind: "Workflow", ...object }, namespaceObject: argoNamespace });
    for (const action of ["opened", "closed"] as const) expect(admit(policy, req(submitted(action)))).toEqual({ matched: true, denied: [] });
    const wf = submitted("opened") as { metadata: Obj; spec: Obj & { arguments: { parameters: Obj[] } } };
    const tampered: Array<[string, Obj]> = [
      ["another template", { ...wf, spec: { ...wf.spec, workflowTemplateRef: { name: "coderun-template" } } }],
      ["a cluster template", { ...wf, spec: { ...wf.spec, workflowTemplateRef: { name: "implementation-dag", clusterScope: true } } }],
      ["a service account", { ...wf, spec: { ...wf.spec, serviceAccountName: "implementation-dag" } }],
      ["a podSpecPatch", { ...wf, spec: { ...wf.spec, podSpecPatch: "{}" } }],
      ["a parameter from a ConfigMap", { ...wf, spec: { ...wf.spec, arguments: { parameters: [{ name: "pr", valueFrom: { configMapKeyRef: { name: "x", key: "y" } } }] } } }],
      ["another parameter", { ...wf, spec: { ...wf.spec, arguments: { parameters: [...wf.spec.arguments.parameters, { name: "imageTag", value: "x" }] } } }],
    ];
    for (const [what, object] of tampered) expect(admit(policy, req(object)).denied, what).not.toEqual([]);
    expect(admit(policy, { ...req(wf), namespaceObject: { metadata: { name: "kube-system" } } }).denied).not.toEqual([]);
    expect(admit(policy, { ...req(tampered[2][1]), user: "system:serviceaccount:argo:someone-else" })).toEqual({ matched: false, denied: [] });
  });

  it("its arguments pass the first step of each template (set-params, preview-names)", async () => {
    for (const [action, name, step] of [["opened", "implementation-dag", "set-params"], ["closed", "preview-teardown", "preview-names"]] as const) {
      const wt = template(name);
      const given = Object.fromEntries((submitted(action) as { spec: { arguments: { parameters: Array<{ name: string; value: string }> } } }).spec.arguments.parameters.map((p) => [p.name, p.value]));
      const defaults = Object.fromEntries((wt.spec?.arguments?.parameters ?? []).filter((p) => p.value !== undefined).map((p) => [p.name, String(p.value)]));
      const parameters = { ...defaults, ...given };
      const r = await runScriptTemplate(templateNamed(wt as { spec: { templates?: [] } }, step), { parameters, workflow: { parameters } });
      expect(r.stderr, `${step}`).toBe("");
      expect(r.code).toBe(0);
      expect(r.outputs).toMatchObject({ pr: "7" });
    }
  });
});

describe("the model of Argo Events' data filters (filter.go)", () => {
  const data: Json = { body: { action: "reopened", n: 7, draft: false, labels: [{ name: "a" }, { name: "b" }], login: "x" } };
  it("matches string values as unanchored Go regular expressions, one value enough", () => {
    expect(filterData([{ path: "body.action", type: "string", value: ["opened"] }], data).pass).toBe(true);
    expect(filterData([{ path: "body.action", type: "string", value: ["^opened$"] }], data).pass).toBe(false);
    expect(filterData([{ path: "body.action", type: "string", value: ["^x$", "^reopened$"] }], data).pass).toBe(true);
  });
  it("passes != when any one value does not match", () => {
    expect(filterData([{ path: "body.login", type: "string", value: ["^x$", "^y$"], comparator: "!=" }], data).pass).toBe(true);
    expect(filterData([{ path: "body.login", type: "string", value: ["^(x|y)$"], comparator: "!=" }], data).pass).toBe(false);
  });
  it("fails with an error on a path that does not exist", () => {
    expect(filterData([{ path: "body.label.name", type: "string", value: ["a"] }], data)).toEqual({ pass: false, error: "path 'body.label.name' does not exist" });
  });
  it("reads bools and numbers, and #.key as a JSON list", () => {
    expect(filterData([{ path: "body.draft", type: "bool", value: ["false"] }, { path: "body.n", type: "number", value: ["6"], comparator: ">" }], data).pass).toBe(true);
    expect(gjsonGet(data, "body.labels.#.name")).toEqual({ exists: true, value: ["a", "b"] });
  });
});
