/**
 * The e2e runner itself, on small hand-written WorkflowTemplates: it must execute what it claims
 * with Argo's semantics and refuse what it does not understand.
 */
import { describe, expect, it } from "vitest";
import { formatTree, RunnerError, runWorkflow, type NodeResult, type WorkflowResult } from "./runner";
import { evaluateDepends, evaluateWhen, matchesCondition } from "./argo-semantics";

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

const byName = (r: WorkflowResult, displayName: string): NodeResult => {
  const n = r.nodes.find((x) => x.displayName === displayName);
  if (!n) throw new Error(`no node ${displayName}`);
  return n;
};

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
    expect(byName(r, "c").outputs.parameters.v).toBe(">abc");
    const order = r.nodes.filter((n) => n.type === "Pod").map((n) => n.displayName);
    expect(order).toEqual(["a", "b", "c", "t-1.onExit"]);
    expect(byName(r, "b").inputs.parameters.in).toBe(">a");
    expect(byName(r, "t-1.onExit").stdout).toBe("status=Succeeded\n");
  });

  it("omits every task downstream of a failure, fails the DAG and tells the exit handler", async () => {
    const r = await runWorkflow(chain("b"), { parameters: { start: "x" }, name: "t-2" });
    expect(r.phase).toBe("Failed");
    expect(byName(r, "a").phase).toBe("Succeeded");
    expect(byName(r, "b").phase).toBe("Failed");
    expect(byName(r, "b").message).toBe("Error (exit code 3)");
    expect(byName(r, "c").phase).toBe("Omitted");
    expect(byName(r, "c").message).toBe("omitted: depends condition not met");
    expect(byName(r, "t-2").phase).toBe("Failed");
    const exit = byName(r, "t-2.onExit");
    expect(exit.stdout).toBe("status=Failed\n");
    expect(JSON.parse(exit.env!.FAILURES)).toEqual(expect.arrayContaining([expect.objectContaining({ displayName: "b", phase: "Failed" })]));
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
    expect(byName(ok, "c").outputs.parameters.v).toBe("ac");
    const failed = await runWorkflow(doc(true), { parameters: {} });
    expect(byName(failed, "c").phase).toBe("Omitted");
    expect(failed.phase).toBe("Failed");
  });

  it("reports Error when a step exits 0 without its declared output, and the exit handler sees Error", async () => {
    const doc = wt([
      { name: "main", dag: { tasks: [{ name: "a", template: "silent" }] } },
      script("silent", "true\n", { outputs: { parameters: [{ name: "v", valueFrom: { path: "/tmp/outputs/v" } }] } }),
      script("exit", 'echo "$STATUS"\n', {}, { STATUS: "{{workflow.status}}" }),
    ], { onExit: "exit" });
    const r = await runWorkflow(doc, { parameters: {}, name: "t-3" });
    expect(byName(r, "a").phase).toBe("Error");
    expect(r.phase).toBe("Error");
    expect(byName(r, "t-3.onExit").stdout).toBe("Error\n");
  });

  it("fails a workflow whose main part succeeded when its exit handler fails", async () => {
    const doc = wt([
      { name: "main", dag: { tasks: [{ name: "a", template: "ok" }] } },
      script("ok", "true\n"),
      script("exit", "exit 1\n"),
    ], { onExit: "exit" });
    const r = await runWorkflow(doc, { parameters: {} });
    expect(byName(r, "a").phase).toBe("Succeeded");
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
    expect(byName(good, "g.onExit").stdout).toBe("ns-1");
    expect(good.outputs).toEqual({ ns: "ns-1" });
    const bad = await runWorkflow(doc, { parameters: { ok: "no" }, name: "b" });
    expect(bad.phase).toBe("Failed");
    expect(byName(bad, "b.onExit").stdout).toBe("{{workflow.outputs.parameters.ns}}");
    expect(byName(bad, "b.onExit").unresolved).toEqual(["workflow.outputs.parameters.ns"]);
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

  it("calls the agent stand-in for a templateRef and follows the outcome the test sets", async () => {
    const doc = wt([
      {
        name: "main",
        dag: {
          tasks: [
            { name: "agent", templateRef: { name: "coderun-template", template: "coderun-main" }, arguments: { parameters: [{ name: "github-app", value: "rex" }, { name: "pr", value: "{{workflow.parameters.pr}}" }] } },
            { name: "after", template: "ok", depends: "agent.Succeeded" },
          ],
        },
      },
      script("ok", "true\n"),
    ], { arguments: { parameters: [{ name: "pr", value: "7" }] } });
    const calls: unknown[] = [];
    const ok = await runWorkflow(doc, { parameters: {}, agent: (c) => { calls.push(c); return { phase: "Succeeded" }; } });
    expect(calls).toEqual([{ task: "agent", templateRef: { name: "coderun-template", template: "coderun-main" }, parameters: { "github-app": "rex", pr: "7" } }]);
    expect(byName(ok, "after").phase).toBe("Succeeded");
    expect(byName(ok, "agent").templateName).toBe("coderun-template/coderun-main");
    const failed = await runWorkflow(doc, { parameters: {}, agent: () => ({ phase: "Failed", message: "agent gave up" }) });
    expect(failed.phase).toBe("Failed");
    expect(byName(failed, "after").phase).toBe("Omitted");
    await expect(runWorkflow(doc, { parameters: {} })).rejects.toThrow(/agent stand-in/);
  });

  it("records resource templates and judges them by their own conditions", async () => {
    const doc = (extra: Json) => wt([
      { name: "main", dag: { tasks: [{ name: "cr", template: "cr", arguments: { parameters: [{ name: "n", value: "{{workflow.parameters.n}}" }] } }] } },
      {
        name: "cr",
        inputs: { parameters: [{ name: "n" }] },
        outputs: { parameters: [{ name: "url", valueFrom: { jsonPath: "{.status.url}" } }] },
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
    expect(byName(ok, "cr").outputs.parameters.url).toBe("https://x/");
    const failed = await runWorkflow(doc({}), { parameters: {}, resource: () => ({ status: { phase: "Error" } }) });
    expect(byName(failed, "cr").phase).toBe("Failed");
    expect(byName(failed, "cr").message).toMatch(/failure condition/);
    const stuck = await runWorkflow(doc({}), { parameters: {}, resource: () => ({ status: { phase: "Running" } }) });
    expect(byName(stuck, "cr").phase).toBe("Failed");
    await expect(runWorkflow(doc({ flags: ["--x"] }), { parameters: {}, resource: () => ({}) })).rejects.toThrow(/'flags'/);
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
    expect(byName(r, "two").outputs.parameters.v).toBe("ab");
    expect(byName(r, "never").phase).toBe("Skipped");
    expect(byName(r, "two").name).toBe("s[1].two");
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
    expect(byName(ok, "s").outputs.parameters).toEqual({ v: "one" });
    expect(byName(ok, "after").stdout).toBe("one+file");
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
});
