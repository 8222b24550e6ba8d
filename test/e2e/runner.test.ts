/**
 * The e2e runner itself, on small hand-written WorkflowTemplates: it must execute what it claims
 * with Argo's semantics and refuse what it does not understand.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AGENT_TASKS, CODERUN_PARAMETERS } from "../../components/workflow/agents";
import { implementationDag, previewRender } from "../helpers/render";
import { startStandIns, type StandIns } from "../../simulator/stand-ins";
import { agentParameters, agentWorkflow, CODERUN_AGENT, CODERUN_ENTRYPOINT, CODERUN_TEMPLATE, coderunTemplate } from "../../simulator/coderun-template";
import { formatTree, InvalidSpecError, podName, RunnerError, runWorkflow, type WorkflowResult } from "../../simulator/runner";
import { node } from "./nodes";
import { evaluateDepends, evaluateWhen, failedRequirement, matchesCondition } from "../../simulator/argo-semantics";

type Json = Record<string, unknown>;

/** A script template: bash runs `source`; env values may reference anything. */
const script = (name: string, source: string, extra: Json = {}, env: Record<string, string> = {}): Json => ({
  name,
  ...extra,
  script: {
    image: "docker.io/library/bash:5.2",
    command: ["bash"],
    source,
    env: [{ name: "OUT", value: "/tmp/outputs" }, ...Object.entries(env).map(([n, value]) => ({ name: n, value }))],
    volumeMounts: [{ name: "scratch", mountPath: "/tmp" }],
  },
});

const wt = (templates: Json[], spec: Json = {}): Json => ({
  apiVersion: "argoproj.io/v1alpha1",
  kind: "WorkflowTemplate",
  metadata: { name: "t", namespace: "argo" },
  spec: { entrypoint: "main", volumes: [{ name: "scratch", emptyDir: {} }], templates, ...spec },
});


/** A template that appends its input to one letter and outputs it. */
const append = (letter: string) =>
  script(`add-${letter}`, 'mkdir -p "$OUT"; printf "%s%s\\n" "$IN" "$LETTER" > "$OUT/v"\n', {
    inputs: { parameters: [{ name: "in", value: "" }] },
    outputs: { parameters: [{ name: "v", valueFrom: { path: "/tmp/outputs/v" } }] },
  }, { IN: "{{inputs.parameters.in}}", LETTER: letter });

const chain = (failAt?: string) => wt([
  {
    name: "main",
    dag: {
      tasks: [
        // Listed out of order on purpose: the runner must follow depends, not the list.
        { name: "c", template: "add-c", depends: "b.Succeeded", arguments: { parameters: [{ name: "in", value: "{{tasks.b.outputs.parameters.v}}" }] } },
        { name: "b", template: failAt === "b" ? "fail" : "add-b", depends: "a.Succeeded", arguments: { parameters: [{ name: "in", value: "{{tasks.a.outputs.parameters.v}}" }] } },
        { name: "a", template: "add-a", arguments: { parameters: [{ name: "in", value: "{{workflow.parameters.start}}" }] } },
      ],
    },
  },
  append("a"), append("b"), append("c"),
  script("fail", 'echo "failing on purpose" >&2; exit 3\n', {
    inputs: { parameters: [{ name: "in" }] },
    outputs: { parameters: [{ name: "v", valueFrom: { path: "/tmp/outputs/v" } }] },
  }),
  script("exit", 'echo "status=$STATUS"\n', {}, { STATUS: "{{workflow.status}}", FAILURES: "{{workflow.failures}}" }),
], { onExit: "exit", arguments: { parameters: [{ name: "start", value: ">" }] } });

describe("e2e runner", () => {
  it("runs DAG tasks in dependency order and passes outputs along", async () => {
    const r = await runWorkflow(chain(), { parameters: {}, name: "t-1" });
    expect(r.phase).toBe("Succeeded");
    expect(node(r, "c").outputs.parameters.v).toBe(">abc");
    const order = r.nodes.filter((n) => n.type === "Pod").map((n) => n.displayName);
    expect(order).toEqual(["a", "b", "c", "t-1.onExit"]);
    expect(node(r, "b").inputs.parameters.in).toBe(">a");
    expect(node(r, "t-1.onExit").stdout).toBe("status=Succeeded\n");
  });

  it("omits every task downstream of a failure, fails the DAG and tells the exit handler", async () => {
    const r = await runWorkflow(chain("b"), { parameters: { start: "x" }, name: "t-2" });
    expect(r.phase).toBe("Failed");
    expect(node(r, "a").phase).toBe("Succeeded");
    expect(node(r, "b").phase).toBe("Failed");
    expect(node(r, "b").message).toBe("Error (exit code 3)");
    expect(node(r, "c").phase).toBe("Omitted");
    expect(node(r, "c").message).toBe("omitted: depends condition not met");
    expect(node(r, "t-2").phase).toBe("Failed");
    const exit = node(r, "t-2.onExit");
    expect(exit.stdout).toBe("status=Failed\n");
    expect(JSON.parse(JSON.parse(exit.env!.FAILURES) as string)).toEqual(expect.arrayContaining([expect.objectContaining({ displayName: "b", phase: "Failed" })]));
  });

  it("reads a dependencies list as Argo does: every dependency Succeeded (or Skipped), else Omitted", async () => {
    const doc = (failB: boolean) => wt([
      {
        name: "main",
        dag: {
          tasks: [
            { name: "a", template: "add-a" },
            { name: "b", template: failB ? "fail" : "add-b", arguments: { parameters: [{ name: "in", value: "" }] } },
            { name: "c", template: "add-c", dependencies: ["a", "b"], arguments: { parameters: [{ name: "in", value: "{{tasks.a.outputs.parameters.v}}" }] } },
          ],
        },
      },
      append("a"), append("b"), append("c"),
      script("fail", "exit 1\n", { inputs: { parameters: [{ name: "in" }] } }),
    ]);
    const ok = await runWorkflow(doc(false), { parameters: {} });
    expect(node(ok, "c").outputs.parameters.v).toBe("ac");
    const failed = await runWorkflow(doc(true), { parameters: {} });
    expect(node(failed, "c").phase).toBe("Omitted");
    expect(failed.phase).toBe("Failed");
  });

  it("judges a DAG as assessDAGPhase does: a task that handles a failure runs, an omitted target after it still fails the DAG", async () => {
    // The preview's own shape: evidence after acceptance whatever its outcome, approve only after both succeeded.
    const doc = (failA: boolean) => wt([
      {
        name: "main",
        dag: {
          tasks: [
            { name: "a", template: failA ? "fail" : "add-a", arguments: { parameters: [{ name: "in", value: "" }] } },
            { name: "e", template: "add-b", depends: "a.Succeeded || a.Failed || a.Errored" },
            { name: "p", template: "add-c", depends: "a.Succeeded && e.Succeeded" },
          ],
        },
      },
      append("a"), append("b"), append("c"),
      script("fail", "exit 1\n", { inputs: { parameters: [{ name: "in" }] } }),
    ]);
    const failed = await runWorkflow(doc(true), { parameters: {} });
    expect([node(failed, "a").phase, node(failed, "e").phase, node(failed, "p").phase]).toEqual(["Failed", "Succeeded", "Omitted"]);
    expect(failed.phase).toBe("Failed");
    const ok = await runWorkflow(doc(false), { parameters: {} });
    expect([node(ok, "e").phase, node(ok, "p").phase, ok.phase]).toEqual(["Succeeded", "Succeeded", "Succeeded"]);
  });

  it("gives a skipped target its dependencies' failure, as assessDAGPhase does: the DAG fails", async () => {
    // A Skipped node is not Completed, so Argo carries the branch phase (here a's Failed) through it.
    const doc = wt([
      {
        name: "main",
        dag: {
          tasks: [
            { name: "a", template: "fail", arguments: { parameters: [{ name: "in", value: "" }] } },
            { name: "b", template: "add-b", depends: "a.Failed", when: "1 == 2" },
          ],
        },
      },
      append("b"),
      script("fail", "exit 1\n", { inputs: { parameters: [{ name: "in" }] } }),
    ]);
    const r = await runWorkflow(doc, { parameters: {} });
    expect([node(r, "a").phase, node(r, "b").phase]).toEqual(["Failed", "Skipped"]);
    expect(r.phase).toBe("Failed");
  });

  it("reports Error when a step exits 0 without its declared output, and the exit handler sees Error", async () => {
    const doc = wt([
      { name: "main", dag: { tasks: [{ name: "a", template: "silent" }] } },
      script("silent", "true\n", { outputs: { parameters: [{ name: "v", valueFrom: { path: "/tmp/outputs/v" } }] } }),
      script("exit", 'echo "$STATUS"\n', {}, { STATUS: "{{workflow.status}}" }),
    ], { onExit: "exit" });
    const r = await runWorkflow(doc, { parameters: {}, name: "t-3" });
    expect(node(r, "a").phase).toBe("Error");
    expect(r.phase).toBe("Error");
    expect(node(r, "t-3.onExit").stdout).toBe("Error\n");
  });

  it("fails a workflow whose main part succeeded when its exit handler fails", async () => {
    const doc = wt([
      { name: "main", dag: { tasks: [{ name: "a", template: "ok" }] } },
      script("ok", "true\n"),
      script("exit", "exit 1\n"),
    ], { onExit: "exit" });
    const r = await runWorkflow(doc, { parameters: {} });
    expect(node(r, "a").phase).toBe("Succeeded");
    expect(r.phase).toBe("Failed");
  });

  it("leaves a global output that was never set as literal text in the exit handler, as Argo does", async () => {
    const doc = wt([
      { name: "main", dag: { tasks: [{ name: "params", template: "params" }] } },
      script("params", 'if [ "$OK" = yes ]; then mkdir -p "$OUT"; printf ns-1 > "$OUT/ns"; else exit 1; fi\n', {
        inputs: { parameters: [{ name: "ok" }] },
        outputs: { parameters: [{ name: "ns", globalName: "ns", valueFrom: { path: "/tmp/outputs/ns" } }] },
      }, { OK: "{{inputs.parameters.ok}}" }),
      script("exit", 'printf "%s" "$NS"\n', {}, { NS: "{{workflow.outputs.parameters.ns}}" }),
    ], { onExit: "exit", arguments: { parameters: [{ name: "ok" }] } });
    doc.spec = { ...(doc.spec as Json) };
    ((doc.spec as Json).templates as Json[])[0] = {
      name: "main", dag: { tasks: [{ name: "params", template: "params", arguments: { parameters: [{ name: "ok", value: "{{workflow.parameters.ok}}" }] } }] },
    };
    const good = await runWorkflow(doc, { parameters: { ok: "yes" }, name: "g" });
    expect(node(good, "g.onExit").stdout).toBe("ns-1");
    expect(good.outputs).toEqual({ ns: "ns-1" });
    const bad = await runWorkflow(doc, { parameters: { ok: "no" }, name: "b" });
    expect(bad.phase).toBe("Failed");
    expect(node(bad, "b.onExit").stdout).toBe("{{workflow.outputs.parameters.ns}}");
    expect(node(bad, "b.onExit").unresolved).toEqual(["workflow.outputs.parameters.ns"]);
  });

  it("refuses an unresolvable reference before running anything", async () => {
    const doc = chain();
    const tasks = (((doc.spec as Json).templates as Json[])[0].dag as { tasks: Json[] }).tasks;
    tasks[0] = { ...tasks[0], arguments: { parameters: [{ name: "in", value: "{{tasks.a.outputs.parameters.nope}}" }] } };
    await expect(runWorkflow(doc, { parameters: {} })).rejects.toThrow(/failed to resolve \{\{tasks\.a\.outputs\.parameters\.nope\}\}/);
    // Only ancestors are in scope: c may not read a task it does not depend on.
    const doc2 = chain();
    const tasks2 = (((doc2.spec as Json).templates as Json[])[0].dag as { tasks: Json[] }).tasks;
    tasks2[2] = { ...tasks2[2], arguments: { parameters: [{ name: "in", value: "{{tasks.c.outputs.parameters.v}}" }] } };
    await expect(runWorkflow(doc2, { parameters: {} })).rejects.toThrow(RunnerError);
    const doc3 = wt([
      { name: "main", dag: { tasks: [{ name: "a", template: "x" }] } },
      script("x", "true\n", {}, { V: "{{inputs.parameters.undeclared}}" }),
    ]);
    await expect(runWorkflow(doc3, { parameters: {} })).rejects.toThrow(/failed to resolve \{\{inputs\.parameters\.undeclared\}\}/);
    const doc4 = wt([
      { name: "main", dag: { tasks: [{ name: "a", template: "x" }] } },
      script("x", "true\n", {}, { V: "{{workflow.status}}" }),
    ]);
    await expect(runWorkflow(doc4, { parameters: {} })).rejects.toThrow(/workflow\.status/);
  });

  it("validates every template at submission, also one the run never reaches, as Argo does", async () => {
    const doc = chain();
    ((doc.spec as Json).templates as Json[]).push(script("unused", "true\n", {}, { V: "{{workflow.parameters.nope}}" }));
    await expect(runWorkflow(doc, { parameters: {} })).rejects.toThrow(new InvalidSpecError("templates.unused: failed to resolve {{workflow.parameters.nope}}"));
  });

  it("throws on any field it does not understand, naming it", async () => {
    const withRetry = chain();
    ((withRetry.spec as Json).templates as Json[])[1].retryStrategy = { limit: 2 };
    await expect(runWorkflow(withRetry, { parameters: {} })).rejects.toThrow(/field 'retryStrategy' is not understood/);
    const withContinueOn = chain();
    const tasks = (((withContinueOn.spec as Json).templates as Json[])[0].dag as { tasks: Json[] }).tasks;
    tasks[2].continueOn = { failed: true };
    await expect(runWorkflow(withContinueOn, { parameters: {} })).rejects.toThrow(/field 'continueOn' is not understood/);
    const withArgs = chain();
    (((withArgs.spec as Json).templates as Json[])[1].script as Json).args = ["x"];
    await expect(runWorkflow(withArgs, { parameters: {} })).rejects.toThrow(/field 'args' is not understood/);
    const withHooks = chain();
    (withHooks.spec as Json).hooks = {};
    await expect(runWorkflow(withHooks, { parameters: {} })).rejects.toThrow(/field 'hooks' is not understood/);
  });

  it("refuses a parameter the template does not declare and a required one left out", async () => {
    await expect(runWorkflow(chain(), { parameters: { nope: "1" } })).rejects.toThrow(/not declared/);
    const doc = chain();
    (doc.spec as { arguments: { parameters: Json[] } }).arguments.parameters.push({ name: "required" });
    await expect(runWorkflow(doc, { parameters: {} })).rejects.toThrow(/required/);
  });

  it("refuses a workflow argument outside its enum at submit, as argo submit does, and runs one inside it", async () => {
    const withEnum = () => {
      const doc = chain();
      (doc.spec as { arguments: { parameters: Json[] } }).arguments.parameters[0].enum = [">", "<"];
      return doc;
    };
    await expect(runWorkflow(withEnum(), { parameters: { start: "x" } })).rejects.toThrow(
      new InvalidSpecError("spec.arguments.start.value should be present in spec.arguments.start.enum list"));
    expect((await runWorkflow(withEnum(), { parameters: { start: "<" } })).phase).toBe("Succeeded");
  });

  it("records resource templates and judges them by their own conditions", async () => {
    const doc = (extra: Json, tmplExtra: Json = {}) => wt([
      { name: "main", dag: { tasks: [{ name: "cr", template: "cr", arguments: { parameters: [{ name: "n", value: "{{workflow.parameters.n}}" }] } }] } },
      {
        name: "cr",
        inputs: { parameters: [{ name: "n" }] },
        outputs: { parameters: [{ name: "url", valueFrom: { jsonPath: "{.status.url}" } }] },
        ...tmplExtra,
        resource: {
          action: "create",
          manifest: "apiVersion: example.io/v1\nkind: Job\nmetadata:\n  name: job-{{inputs.parameters.n}}\n",
          successCondition: "status.phase == Succeeded",
          failureCondition: "status.phase in (Failed, Error)",
          ...extra,
        },
      },
    ], { arguments: { parameters: [{ name: "n", value: "1" }] } });
    const ok = await runWorkflow(doc({}), { parameters: { n: "9" }, resource: () => ({ status: { phase: "Succeeded", url: "https://x/" } }) });
    expect(ok.phase).toBe("Succeeded");
    expect(ok.resources).toEqual([expect.objectContaining({ action: "create", object: { apiVersion: "example.io/v1", kind: "Job", metadata: { name: "job-9" } } })]);
    expect(node(ok, "cr").outputs.parameters.url).toBe("https://x/");
    const failed = await runWorkflow(doc({}), { parameters: {}, resource: () => ({ status: { phase: "Error" } }) });
    expect(node(failed, "cr").phase).toBe("Failed");
    // resource.go, matchConditions: the requirement as labels.Requirement prints it (values sorted).
    expect(node(failed, "cr").message).toBe("failure condition 'status.phase in (Error,Failed)' evaluated true");
    // Neither condition: Argo polls until the pod's deadline; the scripted status is final.
    const stuck = await runWorkflow(doc({}, { activeDeadlineSeconds: 5 }), { parameters: {}, resource: () => ({ status: { phase: "Running" } }) });
    expect(node(stuck, "cr").phase).toBe("Failed");
    expect(node(stuck, "cr").message).toBe("Pod was active on the node longer than the specified deadline");
    await expect(runWorkflow(doc({}), { parameters: {}, resource: () => ({ status: { phase: "Running" } }) })).rejects.toThrow(/wait for ever/);
    await expect(runWorkflow(doc({ flags: ["--x"] }), { parameters: {}, resource: () => ({}) })).rejects.toThrow(/'flags'/);
    // setOwnerReference: the object carries a controller reference to the workflow.
    const owned = await runWorkflow(doc({ setOwnerReference: true }), { parameters: {}, name: "own-1", resource: () => ({ status: { phase: "Succeeded", url: "u" } }) });
    expect((owned.resources[0].object as { metadata: Json }).metadata.ownerReferences).toEqual([
      { apiVersion: "argoproj.io/v1alpha1", kind: "Workflow", name: "own-1", uid: owned.uid, controller: true, blockOwnerDeletion: true },
    ]);
  });

  it("runs steps templates group by group, skipping a step whose when is false", async () => {
    const doc = wt([
      {
        name: "main",
        steps: [
          [{ name: "one", template: "add-a" }],
          [
            { name: "two", template: "add-b", arguments: { parameters: [{ name: "in", value: "{{steps.one.outputs.parameters.v}}" }] } },
            { name: "never", template: "add-c", when: "{{steps.one.outputs.parameters.v}} == nope" },
          ],
        ],
      },
      append("a"), append("b"), append("c"),
    ]);
    const r = await runWorkflow(doc, { parameters: {}, name: "s" });
    expect(r.phase).toBe("Succeeded");
    expect(node(r, "two").outputs.parameters.v).toBe("ab");
    expect(node(r, "never").phase).toBe("Skipped");
    expect(node(r, "two").name).toBe("s[1].two");
  });

  it("gives a steps template the outputs its steps produced (valueFrom.parameter, artifact from)", async () => {
    const doc = (ref: string) => wt([
      { name: "main", dag: { tasks: [{ name: "s", template: "both" }, { name: "after", template: "read", depends: "s.Succeeded", arguments: { parameters: [{ name: "in", value: "{{tasks.s.outputs.parameters.v}}" }], artifacts: [{ name: "f", from: "{{tasks.s.outputs.artifacts.f}}" }] } }] } },
      {
        name: "both",
        outputs: {
          parameters: [{ name: "v", globalName: "v", valueFrom: { parameter: ref } }],
          artifacts: [{ name: "f", from: "{{steps.one.outputs.artifacts.f}}" }],
        },
        steps: [[{ name: "one", template: "write" }]],
      },
      script("write", 'mkdir -p "$OUT"; printf one > "$OUT/v"; printf file > "$OUT/f"\n', {
        outputs: { parameters: [{ name: "v", valueFrom: { path: "/tmp/outputs/v" } }], artifacts: [{ name: "f", path: "/tmp/outputs/f" }] },
      }),
      script("read", 'printf "%s+%s" "$IN" "$(cat /dev/stdin < "$F")"\n', {
        inputs: { parameters: [{ name: "in" }], artifacts: [{ name: "f", path: "/tmp/inputs/f" }] },
      }, { IN: "{{inputs.parameters.in}}", F: "/tmp/inputs/f" }),
    ]);
    const ok = await runWorkflow(doc("{{steps.one.outputs.parameters.v}}"), { parameters: {} });
    expect(ok.phase).toBe("Succeeded");
    expect(node(ok, "s").outputs.parameters).toEqual({ v: "one" });
    expect(node(ok, "after").stdout).toBe("one+file");
    expect(ok.outputs).toEqual({ v: "one" });
    await expect(runWorkflow(doc("{{steps.two.outputs.parameters.v}}"), { parameters: {} })).rejects.toThrow(/failed to resolve \{\{steps\.two/);
  });

  it("prints the run like argo get", async () => {
    const r = await runWorkflow(chain("b"), { parameters: {}, name: "t-9" });
    const tree = formatTree(r);
    expect(tree).toMatch(/^Name: +t-9$/m);
    expect(tree).toMatch(/^Status: +Failed$/m);
    expect(tree).toMatch(/^ ✖ t-9 +main/m);
    expect(tree).toMatch(/^ ├─✔ a +add-a +\d+s$/m);
    expect(tree).toMatch(/^ ├─✖ b +fail +\d+s +Error \(exit code 3\)$/m);
    expect(tree).toMatch(/^ └─○ c +add-c +\d+s +omitted: depends condition not met$/m);
    expect(tree).toMatch(/^ ✔ t-9\.onExit +exit/m);
  });
});

/** A WorkflowTemplate `lib` whose `greet` template prefixes its input and may read a workflow parameter. */
const lib = (env: Record<string, string> = {}): Json => ({
  apiVersion: "argoproj.io/v1alpha1",
  kind: "WorkflowTemplate",
  metadata: { name: "lib", namespace: "argo" },
  spec: {
    templates: [script("greet", 'mkdir -p "$OUT"; printf "hello %s" "$WHO" > "$OUT/v"\n', {
      inputs: { parameters: [{ name: "who" }] },
      outputs: { parameters: [{ name: "v", valueFrom: { path: "/tmp/outputs/v" } }] },
    }, { WHO: "{{inputs.parameters.who}}", ...env })],
  },
});

describe("e2e runner: templates of other WorkflowTemplates", () => {
  const caller = (ref: Json) => wt([
    {
      name: "main",
      dag: {
        tasks: [
          { name: "hi", templateRef: ref, arguments: { parameters: [{ name: "who", value: "{{workflow.parameters.who}}" }] } },
          { name: "after", template: "add-a", depends: "hi.Succeeded", arguments: { parameters: [{ name: "in", value: "{{tasks.hi.outputs.parameters.v}}" }] } },
        ],
      },
    },
    append("a"),
  ], { arguments: { parameters: [{ name: "who", value: "pr-7" }] } });

  it("runs a templateRef task with the template of a WorkflowTemplate it is given, in the caller's context", async () => {
    const r = await runWorkflow(caller({ name: "lib", template: "greet" }), { parameters: {}, workflowTemplates: [lib({ WF: "{{workflow.parameters.who}}" })] });
    expect(r.phase).toBe("Succeeded");
    expect(node(r, "hi").templateName).toBe("lib/greet");
    expect(node(r, "hi").env?.WF).toBe("pr-7");
    expect(node(r, "after").outputs.parameters.v).toBe("hello pr-7a");
  });

  it("refuses a templateRef to a template or WorkflowTemplate that does not exist, as Argo's validation reports it", async () => {
    await expect(runWorkflow(caller({ name: "lib", template: "nope" }), { parameters: {}, workflowTemplates: [lib()] }))
      .rejects.toThrow(new InvalidSpecError("templates.main.dag.tasks.hi template reference lib.nope not found"));
    await expect(runWorkflow(caller({ name: "lib", template: "greet" }), { parameters: {} }))
      .rejects.toThrow(/template reference lib\.greet not found/);
    // A cluster-scoped reference does not find a namespaced template of that name.
    await expect(runWorkflow(caller({ name: "lib", template: "greet", clusterScope: true }), { parameters: {}, workflowTemplates: [lib()] }))
      .rejects.toThrow(InvalidSpecError);
  });

  it("refuses at submission a referenced template that reads a workflow parameter the caller does not have", async () => {
    await expect(runWorkflow(caller({ name: "lib", template: "greet" }), { parameters: {}, workflowTemplates: [lib({ T: "{{workflow.parameters.task-id}}" })] }))
      .rejects.toThrow(/^templates\.main\.dag\.tasks\.hi templates\.greet: failed to resolve \{\{workflow\.parameters\.task-id\}\}$/);
  });

  it("refuses the platform's coderun-template called by templateRef, as the seed wrote it: the caller lacks its workflow parameters", async () => {
    // The seed's call: templateRef coderun-template/coderun-main with github-app and the PR's coordinates.
    const seed = wt([
      {
        name: "main",
        dag: {
          tasks: [{
            name: "implement", templateRef: { name: CODERUN_TEMPLATE, template: CODERUN_ENTRYPOINT },
            arguments: { parameters: [{ name: "github-app", value: "rex" }, { name: "pr", value: "{{workflow.parameters.pr}}" }] },
          }],
        },
      },
    ], { arguments: { parameters: [{ name: "pr", value: "7" }] } });
    // Argo validates the referenced template with the caller's globals before anything else.
    await expect(runWorkflow(seed, { parameters: {}, workflowTemplates: [coderunTemplate("argo")] }))
      .rejects.toThrow(new InvalidSpecError("templates.main.dag.tasks.implement templates.coderun-main: failed to resolve {{workflow.parameters.task-id}}"));
  });

  it("refuses implementation-dag itself with its agents called by templateRef, as the seed had them", async () => {
    const dag = structuredClone(implementationDag(await previewRender())) as unknown as { metadata: { namespace: string }; spec: { templates: Json[] } };
    const main = dag.spec.templates.find((t) => (t.dag as { tasks?: Json[] } | undefined)?.tasks?.some((x) => x.name === "implement")) as { dag: { tasks: Json[] } };
    for (const task of main.dag.tasks) {
      const agent = AGENT_TASKS.find((a) => a.task === task.name);
      if (!agent) continue;
      delete task.template;
      task.templateRef = { name: CODERUN_TEMPLATE, template: CODERUN_ENTRYPOINT };
      task.arguments = { parameters: [{ name: "github-app", value: agent.app }] };
    }
    await expect(runWorkflow(dag, { parameters: { owner: "o", repo: "r", pr: "1" }, workflowTemplates: [coderunTemplate(dag.metadata.namespace)] }))
      .rejects.toThrow(/tasks\.implement templates\.coderun-main: failed to resolve \{\{workflow\.parameters\.task-id\}\}$/);
    // As rendered, the agents are resource steps that create child Workflows instead.
    const rendered = implementationDag(await previewRender());
    expect(rendered.spec?.templates?.some((t) => t.name === "implement" && t.resource)).toBe(true);
  });
});

/** The twelve parameters of the agent template, as a child Workflow gives them. */
const CHILD_PARAMETERS: Record<string, string> = Object.fromEntries(CODERUN_PARAMETERS.map((name) => [name, name === "github-app" ? "rex" : `v-${name}`]));

/**
 * A parent whose step `agent` creates a child Workflow of coderun-template (a resource step as the
 * product writes it), then `after` runs.
 */
function parent(options: { child?: Json; step?: Json; parameters?: Record<string, string> } = {}): Json {
  const manifest = {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Workflow",
    metadata: { generateName: "agent-implement-", labels: { agent: "implement" } },
    spec: {
      workflowTemplateRef: { name: CODERUN_TEMPLATE },
      arguments: { parameters: Object.entries(options.parameters ?? CHILD_PARAMETERS).map(([name, value]) => ({ name, value })) },
      ...options.child,
    },
  };
  return wt([
    { name: "main", dag: { tasks: [{ name: "agent", template: "agent" }, { name: "after", template: "add-a", depends: "agent.Succeeded" }] } },
    {
      name: "agent",
      serviceAccountName: "agents",
      outputs: { parameters: [{ name: "workflow", valueFrom: { jsonPath: "{.metadata.name}" } }] },
      ...options.step,
      resource: {
        action: "create", setOwnerReference: true,
        successCondition: "status.phase == Succeeded", failureCondition: "status.phase in (Failed,Error)",
        manifest: JSON.stringify(manifest),
      },
    },
    append("a"),
  ], { serviceAccountName: "pipeline" });
}

describe("e2e runner: child Workflows of a WorkflowTemplate", () => {
  /** What the agent stand-in does next: exit code, what it prints, how long it takes. */
  let agent: { code?: number; stdout?: string; delayMs?: number } = {};
  let standIns: StandIns;
  beforeAll(async () => {
    standIns = await startStandIns([CODERUN_AGENT], async () => {
      if (agent.delayMs) await new Promise((resolve) => setTimeout(resolve, agent.delayMs));
      return { code: agent.code ?? 0, stdout: agent.stdout ?? "done\n", stderr: agent.code ? "agent gave up\n" : "" };
    });
  });
  afterAll(() => standIns?.close());
  beforeEach(() => { agent = {}; standIns.calls.length = 0; });
  const run = (doc: Json, name = "p") => runWorkflow(doc, {
    parameters: {}, name, workflowTemplates: [coderunTemplate("argo")], pathPrepend: [standIns.dir], standInEnv: standIns.env,
  });
  const child = (r: WorkflowResult) => {
    expect(r.childWorkflows).toHaveLength(1);
    return r.childWorkflows[0];
  };

  it("creates the child as the API server would and runs the template with its arguments: Succeeded", async () => {
    const r = await run(parent());
    expect(r.phase).toBe("Succeeded");
    const c = child(r);
    expect(c.object.metadata.name).toMatch(/^agent-implement-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(c.object.metadata.ownerReferences).toEqual([{ apiVersion: "argoproj.io/v1alpha1", kind: "Workflow", name: "p", uid: r.uid, controller: true, blockOwnerDeletion: true }]);
    expect(c.createdBy).toBe("p.agent");
    expect(c.creatorServiceAccountName).toBe("agents");
    expect(node(r, "agent").serviceAccountName).toBe("agents");
    // The child runs as its template's (here none: default), never as the parent's.
    expect(c.result?.serviceAccountName).toBeUndefined();
    expect(c.result?.phase).toBe("Succeeded");
    expect(c.result?.parameters).toEqual(CHILD_PARAMETERS);
    // The agent saw exactly the twelve parameters, in the child workflow.
    expect(standIns.calls.map(agentParameters)).toEqual([CHILD_PARAMETERS]);
    expect(standIns.calls.map(agentWorkflow)).toEqual([c.object.metadata.name]);
    expect(node(r, "agent").outputs.parameters.workflow).toBe(c.object.metadata.name);
    expect(node(r, "after").phase).toBe("Succeeded");
    expect(formatTree(r)).toMatch(new RegExp(`^Child workflow ${c.object.metadata.name} \\(created by p\\.agent\\)$[\\s\\S]*^ ✔ ${c.object.metadata.name} +coderun-main`, "m"));
 
    // The Workflow's own service account is the child's and its pods'.
    const asCoderun = await run(parent({ child: { serviceAccountName: "coderun" } }), "p2");
    expect(child(asCoderun).result?.serviceAccountName).toBe("coderun");
    expect(child(asCoderun).result?.nodes.map((x) => x.serviceAccountName)).toEqual(["coderun"]);
  });

  it("fails the parent's step by its failure condition when the child Failed", async () => {
    agent = { code: 1 };
    const r = await run(parent());
    const c = child(r);
    expect(c.result?.phase).toBe("Failed");
    expect(c.result?.nodes.map((x) => [x.displayName, x.phase, x.message])).toEqual([[c.object.metadata.name, "Failed", "Error (exit code 1)"]]);
    expect(node(r, "agent").phase).toBe("Failed");
    expect(node(r, "agent").message).toBe("failure condition 'status.phase in (Error,Failed)' evaluated true");
    expect(node(r, "agent").outputs.parameters).toEqual({});
    expect(node(r, "after").phase).toBe("Omitted");
    expect(r.phase).toBe("Failed");
  });

  it("fails the parent's step by its failure condition when the child is in Error (the agent left no summary)", async () => {
    agent = { stdout: "" };
    const r = await run(parent());
    const c = child(r);
    expect(c.result?.phase).toBe("Error");
    expect(c.result?.message).toBe("open /mainctrfs/tmp/coderun/summary: no such file or directory");
    expect(node(r, "agent").message).toBe("failure condition 'status.phase in (Error,Failed)' evaluated true");
    expect(r.phase).toBe("Failed");
  });

  it("times the child out at its own activeDeadlineSeconds: its running pod is killed and the child Failed", async () => {
    agent = { delayMs: 2500 };
    const r = await run(parent({ child: { activeDeadlineSeconds: 1 } }));
    const c = child(r);
    expect(c.result?.phase).toBe("Failed");
    expect(c.result?.nodes[0].message).toBe("Step exceeded its deadline");
    expect(node(r, "agent").message).toBe("failure condition 'status.phase in (Error,Failed)' evaluated true");
    expect(r.phase).toBe("Failed");
  });

  it("gives up on the child at the step's own activeDeadlineSeconds; the child runs on to its end", async () => {
    agent = { delayMs: 3000 };
    const r = await run(parent({ step: { activeDeadlineSeconds: 1 } }));
    const step = node(r, "agent");
    expect(step.phase).toBe("Failed");
    expect(step.message).toBe("Pod was active on the node longer than the specified deadline");
    // The step ended at its own deadline, before the child it gave up on (the order of the two
    // ends, with seconds between them, not a duration).
    expect(Date.parse(step.finishedAt!)).toBeLessThanOrEqual(Date.parse(child(r).result!.finishedAt));
    expect(child(r).result?.phase).toBe("Succeeded");
  });

  it("marks a child Failed with 'invalid spec' when it lacks a parameter its template reads, and Error when the template is missing", async () => {
    const { "task-id": _omitted, ...without } = CHILD_PARAMETERS;
    const invalid = await run(parent({ parameters: without }));
    expect(child(invalid).result).toMatchObject({ phase: "Failed", message: "invalid spec: spec.arguments.task-id.value is required", nodes: [] });
    expect(node(invalid, "agent").phase).toBe("Failed");
    expect(standIns.calls).toEqual([]);
    const missing = await runWorkflow(parent(), { parameters: {}, name: "m", workflowTemplates: [] });
    expect(child(missing).result).toMatchObject({ phase: "Error", message: 'workflowtemplates.argoproj.io "coderun-template" not found' });
    expect(missing.phase).toBe("Failed");
  });

  it("refuses a created Workflow with a field it does not understand", async () => {
    await expect(run(parent({ child: { podGC: { strategy: "OnPodSuccess" } } }))).rejects.toThrow(/field 'podGC' is not understood/);
  });
});

describe("e2e runner: outputs, deadlines, failures and the artifact repository as Argo has them", () => {
  it("saves a script's outputs in order and stops at the first missing file without a default: later ones stay unset, the node errs", async () => {
    const doc = wt([
      { name: "main", dag: { tasks: [{ name: "w", template: "w" }] } },
      script("w", 'mkdir -p "$OUT"; printf 1 > "$OUT/a"; printf 3 > "$OUT/c"\n', {
        outputs: {
          parameters: [
            { name: "a", valueFrom: { path: "/tmp/outputs/a" } },
            { name: "d", valueFrom: { path: "/tmp/outputs/d", default: "dflt\n" } },
            { name: "b", valueFrom: { path: "/tmp/outputs/b" } },
            { name: "c", globalName: "c", valueFrom: { path: "/tmp/outputs/c" } },
          ],
        },
      }),
    ]);
    const r = await runWorkflow(doc, { parameters: {} });
    expect(node(r, "w").phase).toBe("Error");
    expect(node(r, "w").message).toBe("open /mainctrfs/tmp/outputs/b: no such file or directory");
    expect(node(r, "w").outputs.parameters).toEqual({ a: "1", d: "dflt" });
    expect(r.outputs).toEqual({});
  });

  it("kills a pod that is running when the workflow's activeDeadlineSeconds runs out; the exit handler still runs", async () => {
    const doc = wt([
      { name: "main", dag: { tasks: [{ name: "slow", template: "slow" }, { name: "next", template: "ok", depends: "slow" }] } },
      script("slow", "sleep 5; echo finished\n", { activeDeadlineSeconds: 60 }),
      script("ok", "true\n"),
      script("exit", 'sleep 0.3; echo "$STATUS"\n', {}, { STATUS: "{{workflow.status}}" }),
    ], { onExit: "exit", activeDeadlineSeconds: 1 });
    const r = await runWorkflow(doc, { parameters: {}, name: "dl" });
    expect(node(r, "slow").phase).toBe("Failed");
    // Killed while it ran: it never got to its last line.
    expect(node(r, "slow").stdout).not.toContain("finished");
    expect(node(r, "slow").message).toBe("Step exceeded its deadline");
    expect(node(r, "next").phase).toBe("Omitted");
    expect(r.phase).toBe("Failed");
    // The exit handler's pod ignores the workflow's deadline (workflowpod.go: onExitPod).
    expect(node(r, "dl.onExit").phase).toBe("Succeeded");
    expect(node(r, "dl.onExit").stdout).toBe("Failed\n");
  });

  it("counts a template's activeDeadlineSeconds from the node's start, the pod's start-up included", async () => {
    const doc = wt([
      { name: "main", dag: { tasks: [{ name: "s", template: "s" }] } },
      script("s", "sleep 0.6\n", { activeDeadlineSeconds: 1 }),
    ]);
    const fast = await runWorkflow(doc, { parameters: {} });
    expect(node(fast, "s").phase).toBe("Succeeded");
    // 0.6 s of start-up plus 0.6 s of script is over the second the pod has.
    const slowStart = await runWorkflow(doc, { parameters: {}, podInitMs: 600 });
    expect(node(slowStart, "s").phase).toBe("Failed");
    expect(node(slowStart, "s").message).toBe("Pod was active on the node longer than the specified deadline");
  });

  it("inserts {{workflow.failures}} as Argo does: a quoted JSON string, with pod names and the failed nodes' templates", async () => {
    const r = await runWorkflow(chain("b"), { parameters: {}, name: "t-2" });
    const value = node(r, "t-2.onExit").env!.FAILURES;
    expect(value.startsWith('"[{\\"displayName\\":')).toBe(true);
    const failures = JSON.parse(JSON.parse(value) as string) as Json[];
    expect(failures).toEqual([
      { displayName: "t-2", message: "child 't-2.b' failed", templateName: "main", phase: "Failed", podName: "t-2", finishedAt: expect.stringMatching(/Z$/) },
      { displayName: "b", message: "Error (exit code 3)", templateName: "fail", phase: "Failed", podName: expect.stringMatching(/^t-2-fail-\d+$/), finishedAt: expect.stringMatching(/Z$/) },
    ]);
    expect(failures[1].podName).toBe(podName("t-2", "t-2.b", "fail"));
  });

  it("puts the workflow in Error before anything runs when its artifactRepositoryRef does not resolve", async () => {
    const doc = chain();
    (doc.spec as Json).artifactRepositoryRef = { configMap: "artifact-repositories", key: "default-v1" };
    const message = 'failed to resolve artifact repository: failed to find any artifact repository for artifact repository ref "artifact-repositories#default-v1"';
    const noMap = await runWorkflow(doc, { parameters: {} });
    expect(noMap).toMatchObject({ phase: "Error", message, nodes: [] });
    const noKey = await runWorkflow(doc, { parameters: {}, configMaps: { "artifact-repositories": { other: "s3: {}\n" } } });
    expect(noKey).toMatchObject({ phase: "Error", message, nodes: [] });
    const ok = await runWorkflow(doc, { parameters: {}, configMaps: { "artifact-repositories": { "default-v1": "s3:\n  bucket: argo\n  endpoint: minio:9000\n" } } });
    expect(ok.phase).toBe("Succeeded");
  });
});

describe("Argo expressions the runner evaluates", () => {
  it("depends: results, a bare name, and boolean operators", () => {
    expect(evaluateDepends("a.Succeeded", { a: "Succeeded" })).toBe(true);
    expect(evaluateDepends("a.Succeeded", { a: "Omitted" })).toBe(false);
    expect(evaluateDepends("a", { a: "Skipped" })).toBe(true);
    expect(evaluateDepends("a", { a: "Failed" })).toBe(false);
    expect(evaluateDepends("a.Failed || (b.Succeeded && !c.Errored)", { a: "Succeeded", b: "Succeeded", c: "Failed" })).toBe(true);
    expect(() => evaluateDepends("a.Done", { a: "Succeeded" })).toThrow(/unknown result/);
  });

  it("when: comparisons of strings and numbers", () => {
    expect(evaluateWhen("heads == heads")).toBe(true);
    expect(evaluateWhen("'a b' != 'a b'")).toBe(false);
    expect(evaluateWhen("3 > 2 && !(1 >= 2)")).toBe(true);
    expect(() => evaluateWhen("a ~ b")).toThrow();
  });

  it("resource conditions: label-selector requirements over JSON paths", () => {
    const obj = { status: { phase: "Failed", succeeded: 2 } };
    expect(matchesCondition(obj, "status.phase == Failed")).toBe(true);
    expect(matchesCondition(obj, "status.phase in (Error, Failed), status.succeeded > 1")).toBe(true);
    expect(matchesCondition(obj, "status.phase notin (Failed)")).toBe(false);
    expect(matchesCondition(obj, "!status.message")).toBe(true);
    expect(matchesCondition(obj, "status.message != x")).toBe(true);
  });

  it("failure conditions: any requirement that holds fails the step, named as Argo prints it", () => {
    const obj = { status: { phase: "Failed", succeeded: 2 } };
    expect(failedRequirement(obj, "status.succeeded > 5, status.phase in (Failed, Error)")).toBe("status.phase in (Error,Failed)");
    expect(matchesCondition(obj, "status.succeeded > 5, status.phase in (Failed, Error)")).toBe(false);
    expect(failedRequirement(obj, "status.phase == Error")).toBeUndefined();
  });
});
