/**
 * The image is the commit's: deploy (the `pod` runner's script, run for real against the fake
 * GitHub and the recording stand-ins) derives the image tag from the commit it deploys, pulls a given
 * tag `Always`, and waits for the commit's build before anything in the cluster changes. A rerun on
 * a new commit renders a different pod template with the real helm, so it rolls out.
 */
import { execFile, execFileSync } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { PROJECT_ROOT } from "../../scripts/offline-render";
import type { FakeCheckRunState } from "../../simulator/fake-github";
import { type ToolCall } from "../../simulator/stand-ins";
import { realTool } from "../../simulator/tools";
import {
  BUILD_NAME, CHART_DIR, HEAD_SHA, HEAD_TAG, HOST, newWorld, NS, OWNER, PR,
  RELEASE, REPO, type World,
  DeployRunOptions, useDeployStep,
} from "./fixtures";

const step = useDeployStep();

/** Runs deploy against `world`; `env` replaces env values the step gets from config. */
async function deploy(world: World, options: DeployRunOptions = {}) {
  const { r, all, calls, upgrade } = await step.run(world, options);
  return { r, lines: all, calls, upgrade };
}

/** The values an upgrade call sets (`--set-string k=v`), in order. */
const setStrings = (call: ToolCall | undefined) =>
  (call?.args ?? []).flatMap((a, i, all) => (all[i - 1] === "--set-string" ? [a] : []));

/** A new commit for PR 42 whose build `states` say how it goes; the PR's head moves to it. */
let commits = 0;
function newHead(...states: FakeCheckRunState[]): string {
  const sha = (++commits).toString(16).padStart(2, "0").repeat(20);
  step.gh.movePullHead(OWNER, REPO, Number(PR), sha);
  if (states.length > 0) step.gh.addCheckRun(OWNER, REPO, sha, BUILD_NAME, ...states);
  return sha;
}
afterEach(() => step.gh.movePullHead(OWNER, REPO, Number(PR), HEAD_SHA));

const checkRunReads = (sha: string) => step.gh.requests.filter((q) => q.path === `/repos/${OWNER}/${REPO}/commits/${sha}/check-runs`);

describe("deploy: the image tag is the commit's", () => {
  it("derives the tag from the deployed commit by deploy.imageTagPattern and pulls it IfNotPresent", async () => {
    const { r, upgrade } = await deploy(newWorld());
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(setStrings(upgrade)).toEqual([`image.tag=sha-${HEAD_SHA.slice(0, 12)}`, "image.pullPolicy=IfNotPresent", `ingress.host=${HOST}`, "ingress.className=nginx"]);
    expect(r.stdout).toContain(`image tag: ${HEAD_TAG} (of commit ${HEAD_SHA} by sha-{sha12}; pulled IfNotPresent)`);
  });

  it("applies the configured pattern's placeholders: {sha}, {sha12}, {sha7}", async () => {
    const { r, upgrade } = await deploy(newWorld(), { env: { IMAGE_TAG_PATTERN: "git-{sha7}.{sha}_{sha12}" } });
    expect(r.code).toBe(0);
    expect(setStrings(upgrade)[0]).toBe(`image.tag=git-${HEAD_SHA.slice(0, 7)}.${HEAD_SHA}_${HEAD_SHA.slice(0, 12)}`);
  });

  it("pulls an explicitly given tag Always, in the exact helm call", async () => {
    const { r, lines } = await deploy(newWorld(), { parameters: { image_tag: "v1.2.3" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines).toContain(
      `helm upgrade --install ${RELEASE} <work>/checkout/charts/app -n ${NS} --kubeconfig <work>/kubeconfig -f <work>/checkout/charts/app/values-preview.yaml ` +
      `--set-string image.tag=v1.2.3 --set-string image.pullPolicy=Always --set-string ingress.host=${HOST} --set-string ingress.className=nginx --wait --timeout 5m`,
    );
  });

  it("passes a different image.tag on a rerun on a new commit of the same PR", async () => {
    const first = await deploy(newWorld());
    const next = newHead({ status: "completed", conclusion: "success" });
    const second = await deploy(newWorld({ head: next }));
    expect([first.r.code, second.r.code]).toEqual([0, 0]);
    expect(setStrings(first.upgrade)[0]).toBe(`image.tag=sha-${HEAD_SHA.slice(0, 12)}`);
    expect(setStrings(second.upgrade)[0]).toBe(`image.tag=sha-${next.slice(0, 12)}`);
    expect(second.r.outputs.commit).toBe(next);
  });

  it("refuses a bad pattern before anything is read or changed, naming the input and the rule", async () => {
    const { r, lines } = await deploy(newWorld(), { env: { IMAGE_TAG_PATTERN: "pr-42" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERROR: IMAGE_TAG_PATTERN: must be letters, digits, '_', '.', '-' with at least one placeholder {sha}, {sha12} or {sha7}");
    expect(lines).toEqual([]);
    expect(step.gh.requests).toEqual([]);
  });
});

// The step image's busybox runs the polls here; GNU tools run the same loop (sleep between two looks)
// in the timeout and commit-status tests below.
describe("deploy: waits for the commit's build (busybox tools)", () => {
  it("polls until a pending build turns green, then deploys", async () => {
    const sha = newHead({ status: "queued" }, { status: "in_progress" }, { status: "completed", conclusion: "success" });
    const { r, upgrade } = await deploy(newWorld({ head: sha }), { tools: "busybox", env: { BUILD_POLL_SECONDS: "1" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(checkRunReads(sha)).toHaveLength(3);
    expect(r.stdout).toContain(`build: waiting for the check run 'build' of commit ${sha}: queued`);
    expect(r.stdout).toContain(`build: waiting for the check run 'build' of commit ${sha}: in_progress`);
    expect(setStrings(upgrade)[0]).toBe(`image.tag=sha-${sha.slice(0, 12)}`);
    expect(step.gh.violations).toEqual([]);
  });

  it("fails on a failed build, naming the check, the commit and what it saw, with nothing changed in the cluster", async () => {
    const sha = newHead({ status: "in_progress" }, { status: "completed", conclusion: "failure" });
    const { r, lines } = await deploy(newWorld({ head: sha }), { tools: "busybox", env: { BUILD_POLL_SECONDS: "1" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: build: the check run 'build' of commit ${sha} in ${OWNER}/${REPO} did not succeed: completed (failure); no image to deploy\n`);
    expect(lines).toEqual([]);
    expect(step.gh.writes()).toEqual([]);
  });
});

describe("deploy: a build that never succeeds", () => {
  it("fails at the timeout when the commit has no such build, with nothing changed in the cluster", async () => {
    const sha = newHead();
    const { r, lines } = await deploy(newWorld({ head: sha }), { env: { BUILD_TIMEOUT_SECONDS: "2", BUILD_POLL_SECONDS: "1" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: build: no successful check run 'build' for commit ${sha} in ${OWNER}/${REPO} within 2 s; last seen: no check run named build\n`);
    expect(checkRunReads(sha).length).toBeGreaterThanOrEqual(2);
    expect(lines).toEqual([]);
    expect(step.gh.writes()).toEqual([]);
  });

  it("fails on any conclusion but success: a cancelled or skipped build pushed no image", async () => {
    for (const conclusion of ["cancelled", "skipped", "timed_out", "action_required"] as const) {
      const sha = newHead({ status: "completed", conclusion });
      const { r, lines } = await deploy(newWorld({ head: sha }));
      expect(r.code, conclusion).toBe(1);
      expect(r.stderr, conclusion).toContain(`did not succeed: completed (${conclusion})`);
      expect(lines, conclusion).toEqual([]);
    }
  });

  it("asks for a check run named with spaces, '/', ':', '+' and parentheses, each percent-encoded, and finds it", async () => {
    const name = "CI / build (linux:amd64)+x";
    const sha = newHead();
    step.gh.addCheckRun(OWNER, REPO, sha, name, { status: "completed", conclusion: "success" });
    const { r } = await deploy(newWorld({ head: sha }), { env: { BUILD_NAME: name } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(checkRunReads(sha).map((q) => q.query.check_name)).toEqual([name]);
    expect(r.stdout).toContain(`build: check run '${name}' of commit ${sha} succeeded`);
  });

  it("encodes a check run's name as a URI component: every byte but letters, digits, '-', '_', '.' and '~'", () => {
    const texts = ["build", "CI / build (linux:amd64)+x", "a!b*c'd~e", "é ü", "%41&=?#", ""];
    const rfc3986 = (t: string) => encodeURIComponent(t).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const printable = Array.from({ length: 95 }, (_, n) => String.fromCharCode(32 + n)).join("");
    for (const text of [...texts, printable]) {
      const shell = execFileSync("bash", ["-c", 'set -euo pipefail; source "$1"; uri_component "$2"', "-", path.join(PROJECT_ROOT, "components", "steps", "lib", "image.sh"), text], { encoding: "utf8" });
      expect(shell, text).toBe(rfc3986(text));
    }
  });

  it("waits for a commit status instead with deploy.build.kind status, with a statuses:read token", async () => {
    const sha = newHead();
    step.gh.addCommitStatus(OWNER, REPO, sha, "ci/image", "pending", "success");
    const { r } = await deploy(newWorld({ head: sha }), { env: { BUILD_KIND: "status", BUILD_NAME: "ci/image", BUILD_POLL_SECONDS: "1" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(step.gh.requests[0].body).toEqual({ repositories: [REPO], permissions: { contents: "read", pull_requests: "read", statuses: "read" } });
    expect(step.gh.requests.filter((q) => q.path === `/repos/${OWNER}/${REPO}/commits/${sha}/status`)).toHaveLength(2);
    expect(step.gh.violations).toEqual([]);
  });

  it("fails on a commit status in error, naming the context", async () => {
    const sha = newHead();
    step.gh.addCommitStatus(OWNER, REPO, sha, "ci/image", "error");
    const { r, lines } = await deploy(newWorld({ head: sha }), { env: { BUILD_KIND: "status", BUILD_NAME: "ci/image" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: build: the commit status 'ci/image' of commit ${sha} in ${OWNER}/${REPO} did not succeed: error (Build error); no image to deploy\n`);
    expect(lines).toEqual([]);
  });

  it("does not wait, nor ask for checks:read, with deploy.build.kind none", async () => {
    const sha = newHead();
    const { r } = await deploy(newWorld({ head: sha }), { env: { BUILD_KIND: "none" } });
    expect(r.code).toBe(0);
    expect(step.gh.requests[0].body).toEqual({ repositories: [REPO], permissions: { contents: "read", pull_requests: "read" } });
    expect(checkRunReads(sha)).toEqual([]);
  });

  it("refuses bad build settings before anything is read, naming each", async () => {
    const { r, lines } = await deploy(newWorld(), { env: { BUILD_KIND: "check", BUILD_NAME: "$(id)", BUILD_TIMEOUT_SECONDS: "5", BUILD_POLL_SECONDS: "6" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERROR: BUILD_KIND: must be check-run, status or none");
    expect(r.stderr).toContain("ERROR: BUILD_NAME: must be a check run name or status context");
    expect(r.stderr).toContain("ERROR: BUILD_POLL_SECONDS: must be an integer from 1 to 300, at most BUILD_TIMEOUT_SECONDS");
    expect(lines).toEqual([]);
    expect(step.gh.requests).toEqual([]);
  });
});

describe("a rerun on a new commit rolls out (the real helm)", () => {
  it("renders a different Deployment pod template for commits A and B with the overrides deploy passes", async () => {
    const helm = realTool("helm");
    const render = async (sets: string[]) => {
      const args = ["template", RELEASE, CHART_DIR, "-n", NS, "-f", path.join(CHART_DIR, "values-preview.yaml"), ...sets.flatMap((s) => ["--set-string", s])];
      const { stdout } = await promisify(execFile)(helm, args, { encoding: "utf8", env: { ...process.env, HELM_CACHE_HOME: path.join(PROJECT_ROOT, ".cache", "helm") } });
      const docs = parseAllDocuments(stdout).map((d) => d.toJS() as { kind?: string }).filter((d) => d?.kind === "Deployment");
      expect(docs).toHaveLength(1);
      const deployment = new Deployment(docs[0] as ConstructorParameters<typeof Deployment>[0]);
      deployment.validate();
      return deployment.spec!.template;
    };
    const a = await deploy(newWorld());
    const b = newHead({ status: "completed", conclusion: "success" });
    const second = await deploy(newWorld({ head: b }));
    expect([a.r.code, second.r.code]).toEqual([0, 0]);
    const [templateA, templateB] = [await render(setStrings(a.upgrade)), await render(setStrings(second.upgrade))];
    expect(templateA).not.toEqual(templateB);
    expect(templateA.spec!.containers[0]).toMatchObject({ image: `ghcr.io/example-org/example-app:sha-${HEAD_SHA.slice(0, 12)}`, imagePullPolicy: "IfNotPresent" });
    expect(templateB.spec!.containers[0]).toMatchObject({ image: `ghcr.io/example-org/example-app:sha-${b.slice(0, 12)}`, imagePullPolicy: "IfNotPresent" });
  });
});

describe("lib/image.sh build_judge: GitHub's answer to a verdict", () => {
  const judge = (kind: string, name: string, answer: unknown) =>
    execFileSync("bash", ["-c", 'set -euo pipefail; source "$1"; build_judge "$2" "$3"', "-", path.join(PROJECT_ROOT, "components", "steps", "lib", "image.sh"), kind, name],
      { input: JSON.stringify(answer), encoding: "utf8" });
  const run = (name: string, status: string, conclusion: string | null = null) => ({ name, status, conclusion });

  it.each([
    ["no run of that name", [run("lint", "completed", "success")], "missing\tno check run named build\n"],
    ["a run still queued", [run("build", "queued")], "pending\tqueued\n"],
    ["every run a success", [run("build", "completed", "success"), run("build", "completed", "success")], "success\tcompleted (success), completed (success)\n"],
    ["one success, one still running", [run("build", "completed", "success"), run("build", "in_progress")], "pending\tcompleted (success), in_progress\n"],
    ["a neutral conclusion (no image known to be pushed)", [run("build", "completed", "neutral")], "failure\tcompleted (neutral)\n"],
    ["a failure beside a success", [run("build", "completed", "success"), run("build", "completed", "failure")], "failure\tcompleted (success), completed (failure)\n"],
  ])("check runs: %s", (_what, runs, verdict) => {
    expect(judge("check-run", "build", { total_count: runs.length, check_runs: runs })).toBe(verdict);
  });

  it.each([
    ["no such context", [{ context: "ci/lint", state: "success" }], "missing\tno status with context ci/image\n"],
    ["pending", [{ context: "ci/image", state: "pending", description: "" }], "pending\tpending\n"],
    ["success", [{ context: "ci/image", state: "success", description: "pushed" }], "success\tsuccess (pushed)\n"],
    ["failure", [{ context: "ci/image", state: "failure" }], "failure\tfailure\n"],
  ])("commit statuses: %s", (_what, statuses, verdict) => {
    expect(judge("status", "ci/image", { state: "pending", statuses })).toBe(verdict);
  });
});
