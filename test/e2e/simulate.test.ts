/**
 * `npm run simulate`: its arguments, its JSON report, and its exit status (0 whenever the simulation
 * ran, 1 when Argo would refuse the submission or the runner cannot execute the template).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSimulateArgs, parseUninstallArgs, repositoriesOf, simulate, simulateUninstall } from "../../scripts/simulate";
import { templateNamed } from "../helpers/render";
import { nsOf, OTHER_REPO, OWNER, REPO, World } from "../../simulator/world";

let world: World;
beforeAll(async () => {
  world = await World.start();
});
afterAll(() => world?.close());

async function capture(run: (write: (t: string) => void, writeError: (t: string) => void) => Promise<number>) {
  let out = "";
  let err = "";
  const code = await run((t) => (out += t), (t) => (err += t));
  return { code, out, err };
}

describe("npm run simulate", () => {
  it("reads --owner, --repo and --state, and names a bad one", () => {
    expect(parseSimulateArgs(["--owner", "Other-Org", "--repo", "thing.js", "--pr", "5", "--state", "/tmp/world.json"]))
      .toEqual({ owner: "Other-Org", repo: "thing.js", pr: 5, failAt: undefined, json: false, state: "/tmp/world.json" });
    expect(() => parseSimulateArgs(["--owner", "a--b", "--pr", "5"])).toThrow(/--owner: must be a GitHub owner/);
    expect(() => parseSimulateArgs(["--repo", "..", "--pr", "5"])).toThrow(/--repo: must be a GitHub repository name/);
    expect(() => parseSimulateArgs(["--pr", "5", "--state"])).toThrow(/--state: needs a file/);
    // The world serves the default repositories, the state's and the run's.
    expect(repositoriesOf({ pr: 5, json: false, owner: "other-org", repo: "thing" })).toEqual([
      { owner: OWNER, repo: REPO }, { owner: OWNER, repo: OTHER_REPO }, { owner: "other-org", repo: "thing" },
    ]);
  });

  it("carries the world from one run to the next (--state): two repositories' PR 61 on one cluster, deployments in the JSON", async () => {
    // Worlds of their own: the shared one's cluster stays as the other cases expect it.
    const first = await World.start();
    let state;
    try {
      const { code } = await capture((w, e) => simulate({ pr: 61, json: true }, first, w, e));
      expect(code).toBe(0);
      state = first.exportState();
    } finally {
      await first.close();
    }
    const next = await World.start({ state });
    try {
      const { code: second, out } = await capture((w, e) => simulate({ pr: 61, repo: OTHER_REPO, failAt: "deploy", json: true }, next, w, e));
      expect(second).toBe(0);
      const report = JSON.parse(out) as { phase: string; cluster: { namespaces: Array<{ name: string }> }; github: { deployments: Array<{ repository: string; environment: string; states: string[] }> } };
      expect(report.phase).toBe("Failed");
      // The first run's preview is still there; the failed one's is gone with its own cleanup.
      expect(report.cluster.namespaces.map((n) => n.name)).toContain(nsOf(61));
      expect(report.cluster.namespaces.map((n) => n.name)).not.toContain(nsOf(61, OWNER, OTHER_REPO));
      expect(report.github.deployments.filter((d) => d.environment === "pr-61")).toEqual([
        { repository: `${OWNER}/${REPO}`, environment: "pr-61", states: ["in_progress", "success"] },
        { repository: `${OWNER}/${OTHER_REPO}`, environment: "pr-61", states: ["in_progress", "failure", "inactive"] },
      ]);
    } finally {
      await next.close();
    }
  });

  it("reads --pr, --fail-at and --json, and names a bad argument", () => {
    expect(parseSimulateArgs(["--pr", "123"])).toEqual({ pr: 123, failAt: undefined, json: false });
    expect(parseSimulateArgs(["--pr", "7", "--fail-at", "deploy", "--json"])).toEqual({ pr: 7, failAt: "deploy", json: true });
    expect(() => parseSimulateArgs([])).toThrow(/--pr is required/);
    expect(() => parseSimulateArgs(["--pr", "0123"])).toThrow(/--pr/);
    expect(() => parseSimulateArgs(["--pr", "1", "--fail-at", "merge"])).toThrow(/--fail-at: must be one of set-params, /);
    expect(() => parseSimulateArgs(["--pr", "1", "--verbose"])).toThrow(/unknown argument '--verbose'/);
  });

  it("prints {phase, nodes, cluster, github} and exits 0 for a workflow that failed", async () => {
    const { code, out } = await capture((w, e) => simulate({ pr: 951, failAt: "clippy-format", json: true }, world, w, e));
    expect(code).toBe(0);
    const report = JSON.parse(out) as {
      phase: string; nodes: Array<{ name: string; template: string; phase: string }>; workflows: Array<Record<string, string>>;
      cluster: { namespaces: unknown[]; releases: unknown[] }; github: { reviews: unknown[] };
    };
    expect(report.phase).toBe("Failed");
    expect(report.nodes.map((n) => [n.name, n.phase])).toEqual([
      [expect.stringMatching(/^implementation-dag-pr951-/), "Failed"],
      ["set-params", "Succeeded"], ["preview", "Failed"], ["implement", "Succeeded"], ["clippy-format", "Failed"],
      ["qa-testing", "Omitted"], ["deploy", "Omitted"], ["acceptance", "Omitted"], ["preview-evidence", "Omitted"], ["approve", "Omitted"],
      [expect.stringMatching(/\.onExit$/), "Succeeded"], ["[0]", "Succeeded"], ["stop-agents", "Succeeded"], ["cleanup", "Succeeded"],
    ]);
    // The agent step is a resource step of its own; the agent ran in a child Workflow of coderun-template.
    expect(report.nodes.find((n) => n.name === "clippy-format")?.template).toBe("clippy-format");
    expect(report.workflows).toEqual([
      { name: expect.stringMatching(/^agent-implement-/), createdBy: "implement", template: "coderun-template", phase: "Succeeded" },
      { name: expect.stringMatching(/^agent-clippy-format-/), createdBy: "clippy-format", template: "coderun-template", phase: "Failed", message: "Error (exit code 1)" },
    ]);
    expect(report.cluster).toEqual({ namespaces: [], releases: [] });
    expect(report.github).toEqual({ reviews: [], deployments: [] });
  });

  it("prints the argo-get tree without --json", async () => {
    const { code, out } = await capture((w, e) => simulate({ pr: 952, failAt: "set-params", json: false }, world, w, e));
    expect(code).toBe(0);
    expect(out).toMatch(/^Status: +Failed$/m);
    expect(out).toMatch(/^ ├─✖ set-params +set-params .*Error \(exit code 1\)$/m);
    expect(out).toMatch(/ERROR: pr: must be a positive integer/);
    expect(out).toMatch(/^github: no review$/m);
  });

  it("shows each agent's child Workflow of coderun-template in the tree, and the failed agent's log", async () => {
    const { code, out } = await capture((w, e) => simulate({ pr: 954, failAt: "qa-testing", json: false }, world, w, e));
    expect(code).toBe(0);
    expect(out).toMatch(/^ └─✖ preview +preview /m);
    expect(out).toMatch(/^ {3}├─✔ implement +implement /m);
    expect(out).toMatch(/^ {3}├─✖ qa-testing +qa-testing .*failure condition 'status\.phase in \(Error,Failed\)' evaluated true$/m);
    for (const agent of ["implement", "clippy-format", "qa-testing"]) {
      expect(out).toMatch(new RegExp(`^Child workflow agent-${agent}-[a-z0-9]{5} \\(created by implementation-dag-pr954-\\d+\\.preview\\.${agent}\\)$`, "m"));
    }
    expect(out).toMatch(/^Status: +Error$/m);
    expect(out).toMatch(/^ ⚠ agent-qa-testing-[a-z0-9]{5} +coderun-main .*open \/mainctrfs\/tmp\/coderun\/summary: no such file or directory$/m);
  });

  it("exits 1 naming Argo's refusal when the template does not validate", async () => {
    const deploy = templateNamed(world.workflowTemplate as { spec: { templates?: never[] } }, "deploy") as unknown as { script?: { env?: Array<{ name: string; value?: string }> } };
    if (!deploy.script?.env) throw new Error("deploy is not a script template with env");
    deploy.script.env.push({ name: "NOPE", value: "{{workflow.parameters.nope}}" });
    try {
      const { code, out, err } = await capture((w, e) => simulate({ pr: 955, json: true }, world, w, e));
      expect(code).toBe(1);
      expect(out).toBe("");
      expect(err).toMatch(/^simulate: Argo refuses the submission \(invalid spec\): .*templates\.deploy: failed to resolve \{\{workflow\.parameters\.nope\}\}$/m);
    } finally {
      deploy.script.env.pop();
    }
  });

  it("reads --uninstall with --state and --json only, and names a bad argument", () => {
    expect(parseUninstallArgs(["--pr", "5"])).toBeUndefined();
    expect(parseUninstallArgs(["--uninstall"])).toEqual({ json: false });
    expect(parseUninstallArgs(["--state", "/tmp/w.json", "--uninstall", "--json"])).toEqual({ json: true, state: "/tmp/w.json" });
    expect(() => parseUninstallArgs(["--uninstall", "--pr", "5"])).toThrow(/--uninstall takes only --state and --json \(got '--pr'\)/);
    expect(() => parseUninstallArgs(["--uninstall", "--state"])).toThrow(/--state: needs a file/);
  });

  it("--uninstall runs implementation-dag-uninstall in the world and prints its tree, its report and what is left", async () => {
    const { code, out } = await capture((w, e) => simulateUninstall({ json: false }, world, w, e));
    expect(code).toBe(0);
    expect(out).toMatch(/^Status: +Succeeded$/m);
    expect(out).toMatch(/^Uninstall at .*\ndeleted: \d+, kept: \d+, failed: 0$/m);
    expect(out).toMatch(/^cluster: namespaces .*; releases \(none\)$/m);
    const json = await capture((w, e) => simulateUninstall({ json: true }, world, w, e));
    const report = JSON.parse(json.out) as { phase: string; nodes: Array<{ name: string }>; cluster: { namespaces: unknown[]; releases: unknown[] }; github: { deployments: unknown[] } };
    expect(report.phase).toBe("Succeeded");
    expect(report.nodes.map((n) => n.name)).toEqual([expect.stringMatching(/^implementation-dag-uninstall-/)]);
    expect(report.cluster.releases).toEqual([]);
  });

  it("exits 1 when the runner meets a field it does not understand", async () => {
    const deploy = templateNamed(world.workflowTemplate as { spec: { templates?: never[] } }, "deploy") as unknown as Record<string, unknown>;
    deploy.retryStrategy = { limit: 2 };
    try {
      const { code, out, err } = await capture((w, e) => simulate({ pr: 953, json: true }, world, w, e));
      expect(code).toBe(1);
      expect(out).toBe("");
      expect(err).toMatch(/the runner cannot execute this: .*field 'retryStrategy' is not understood/);
    } finally {
      delete deploy.retryStrategy;
    }
  });
});
