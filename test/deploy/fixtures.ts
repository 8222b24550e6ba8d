/**
 * The world the deploy tests run the deploy and discovery scripts in: a fake GitHub with the QA
 * app and one PR, the simulator's fake cluster behind the kubectl and helm stand-ins, a fake git and
 * chart registry that hold the example chart, the guardrail files as the ConfigMap mounts them, and a
 * directory of busybox applets.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { parseConfig } from "../../components/config";
import { buildGuardrails, guardrailFiles } from "../../components/guardrails";
import { PROJECT_ROOT, readStackConfig } from "../../scripts/offline-render";
import { appKey, startFakeGitHub, type FakeGitHub } from "../../simulator/fake-github";
import { isOfflineCall, startStandIns, type StandIns, type ToolCall, type ToolReply } from "../../simulator/stand-ins";
import { runScriptTemplate, type StepResult } from "../../simulator/argo-step";
import { FakeCluster, type FakeNamespace, type KubeObj, type ReleaseStatus } from "../../simulator/cluster";
import { INSTANCE, utcIn } from "../helpers/cluster-objects";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";
import { busyboxDir } from "../helpers/busybox";
export { isOfflineCall };
import { cachedRealToolReply, realToolReply } from "../../simulator/tools";

export const OWNER = "example-org";
export const REPO = "example-app";
export const PR = "42";
export const NS = "impl-pr-42";
export const RELEASE = "example-app-pr-42";
export const HOST = "pr-42.preview.example.com";
export const HEAD_SHA = "0123456789abcdef0123456789abcdef01234567";
export const WORKFLOW = "implementation-dag-x7k2p";
export { INSTANCE };
/** The preview stack's ClusterRoles deploy binds in each preview namespace (implementation-dag-<instance>-<purpose>). */
export const DEPLOYER_ROLE = "implementation-dag-argo-deployer";
export const GUARDRAILS_ROLE = "implementation-dag-argo-guardrails";
export const CHART_DIR = path.join(PROJECT_ROOT, "charts", "app");
/** The check run the preview stack's deploy waits for (deploy.build.name). */
export const BUILD_NAME = "build";
/** The image tag of HEAD_SHA by the preview stack's deploy.imageTagPattern (sha-{sha12}). */
export const HEAD_TAG = `sha-${HEAD_SHA.slice(0, 12)}`;

/** The deploy template's parameters for PR 42, as the DAG passes them (no tag given: derived from the commit). */
export const PARAMETERS = {
  owner: OWNER, repo: REPO, pr: PR, commit: "", ns: NS, release: RELEASE, host: HOST,
  image_tag: "", chartPath: "charts/app", valuesFile: "values-preview.yaml",
};

/** The guardrail files of the preview stack, written as the ConfigMap mount shows them. */
export function guardrailsDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "guardrails-"));
  const files = guardrailFiles(buildGuardrails(parseConfig(readStackConfig("preview"))));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

/** The one directory of busybox applets (test/helpers/busybox.ts), to put first on PATH. */
export { busyboxDir } from "../helpers/busybox";

/** The fake GitHub with the QA app installed on the example repository and PR 42 open. */
export async function githubWorld(): Promise<{ gh: FakeGitHub; keyFile: string; env: Record<string, string> }> {
  const key = appKey("qa");
  const keyFile = path.join(mkdtempSync(path.join(tmpdir(), "qa-key-")), "private-key.pem");
  writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });
  const gh = await startFakeGitHub({
    apps: [{
      appId: "100003", slug: "qa", publicKey: key.publicKey,
      installations: [{ id: 200003, owner: OWNER, repositories: [REPO], permissions: { contents: "read", pull_requests: "write", deployments: "write", checks: "read", statuses: "read" } }],
    }],
  });
  gh.addPull({ owner: OWNER, repo: REPO, number: Number(PR), headSha: HEAD_SHA });
  // The repository's CI built the head: the preview stack's deploy waits for check run `build`.
  gh.addCheckRun(OWNER, REPO, HEAD_SHA, BUILD_NAME, { status: "completed", conclusion: "success" });
  return {
    gh,
    keyFile,
    env: {
      GITHUB_API_URL: gh.url,
      GITHUB_APP_ID: "100003",
      GITHUB_INSTALLATION_ID: "200003",
      GITHUB_APP_PRIVATE_KEY_FILE: keyFile,
      GITHUB_RETRY_BASE_MS: "10",
    },
  };
}

/** An Ingress in the preview namespace. */
export function ingress(name: string, rules: Array<{ host?: string; paths?: string[] }>, tlsHosts?: string[][]): KubeObj {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name, namespace: NS },
    spec: {
      ...(tlsHosts ? { tls: tlsHosts.map((hosts) => ({ hosts, secretName: "tls" })) } : {}),
      rules: rules.map((r) => ({
        ...(r.host ? { host: r.host } : {}),
        http: { paths: (r.paths ?? ["/"]).map((p) => ({ path: p, pathType: "Prefix", backend: { service: { name: "app", port: { number: 80 } } } })) },
      })),
    },
  };
}

/** The example chart's Ingress: one host, TLS by the controller's default certificate. */
export const CHART_INGRESS = ingress(RELEASE, [{ host: HOST }], [[HOST]]);

/** What the crashing container of a {@link pod} logs before each restart. */
export const CRASH_LOG = "nginx: [emerg] open() failed (30: Read-only file system)";

/** A pod of the release in the preview namespace, running: ready or not, with a restart count. */
export function pod(name: string, ready: boolean, restarts = 0): KubeObj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS },
    status: {
      phase: "Running",
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
      containerStatuses: [{ name: "app", image: `ghcr.io/${OWNER}/${REPO}:${HEAD_TAG}`, ready, restartCount: restarts }],
    },
  };
}

/**
 * A preview namespace as an earlier run of this repository and this stack left it (labelled with the
 * stack's instance). `instance: null` leaves the instance label out: a preview made before it existed.
 * `phase: "Terminating"`: being deleted.
 */
export function previewNamespace(extra: { labels?: Record<string, string>; annotations?: Record<string, string>; phase?: "Active" | "Terminating"; instance?: string | null } = {}): FakeNamespace {
  const instance: Record<string, string> = extra.instance === null ? {} : { "implementation-dag/instance": extra.instance ?? INSTANCE };
  const terminating = extra.phase === "Terminating";
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: NS,
      creationTimestamp: utcIn(-24),
      ...(terminating ? { deletionTimestamp: utcIn(-1) } : {}),
      labels: { preview: "true", pr: PR, workflow: "implementation-dag-old01", ...instance, ...extra.labels },
      annotations: { "implementation-dag/repository": `${OWNER}/${REPO}`, ...extra.annotations },
    },
    status: { phase: terminating ? "Terminating" : "Active" },
  };
}

/** How a deploy test's world starts: the fake cluster's content, and what the fake git does. */
export interface WorldOptions {
  /** The preview namespace, when it exists before the run. */
  namespace?: FakeNamespace;
  /**
   * The Ingresses the namespace holds once the release is in (those the chart renders when not
   * given): set when the namespace exists and again after each `helm upgrade --install`.
   */
  ingresses?: KubeObj[];
  /** Pods the release leaves in the namespace (a crash-looping one with its back-off event and log). */
  pods?: KubeObj[];
  /** Whether `helm upgrade` fails (context deadline exceeded). */
  helmFails?: boolean;
  /** A release a killed step left pending: its revisions, oldest first, the pending one (its status) last. */
  pendingRelease?: { history: Array<{ revision: number; status: ReleaseStatus; description?: string }> };
  /** The commit the fake checkout is at (what `git rev-parse HEAD` answers); defaults to HEAD_SHA. */
  head?: string;
  /** Whether `git fetch` fails. */
  fetchFails?: boolean;
  /** Files added to the checkout after the chart (path → content, or `{ symlink }`). */
  extraFiles?: Record<string, string | { symlink: string }>;
}

/** The world a deploy test runs in: the fake cluster, the fake git, and what the tools were asked. */
export interface World {
  /** The one fake cluster (simulator/cluster.ts). */
  readonly cluster: FakeCluster;
  readonly options: WorldOptions;
  /** Every call the tools answered, in order. */
  readonly calls: ToolCall[];
  /** The preview namespace, when it exists. */
  readonly namespace: FakeNamespace | undefined;
  /** Objects created or applied through stdin (`kubectl create|apply -f -`), in order. */
  readonly applied: KubeObj[];
  /** The token `kubectl create token` issued (deploy's deployer), once it did. */
  readonly token: string | undefined;
}

/** Replaces the namespace's Ingresses with `ingresses`. */
function placeIngresses(cluster: FakeCluster, ingresses: KubeObj[]): void {
  const list = (cluster.objects.get(NS) ?? []).filter((o) => o.kind !== "Ingress");
  cluster.objects.set(NS, [...list, ...structuredClone(ingresses)]);
}

/** Puts `pods` into the namespace, each crash-looping one with kubelet's back-off event and its log. */
function placePods(cluster: FakeCluster, pods: KubeObj[]): void {
  const at = utcIn(0);
  for (const p of structuredClone(pods)) {
    cluster.adopt(p);
    const statuses = (p.status as { containerStatuses?: Array<{ name: string; restartCount: number }> }).containerStatuses ?? [];
    for (const c of statuses.filter((x) => x.restartCount > 0)) {
      cluster.setLog(NS, p.metadata.name, c.name, [CRASH_LOG], [CRASH_LOG]);
      cluster.adopt({
        apiVersion: "v1", kind: "Event",
        metadata: { name: `${p.metadata.name}.backoff`, namespace: NS, creationTimestamp: at },
        involvedObject: { apiVersion: "v1", kind: "Pod", name: p.metadata.name, namespace: NS, fieldPath: `spec.containers{${c.name}}` },
        reason: "BackOff", message: `Back-off restarting failed container ${c.name} in pod ${p.metadata.name}`, type: "Warning", count: c.restartCount,
        firstTimestamp: at, lastTimestamp: at, source: { component: "kubelet" },
      });
    }
  }
}

/** A world whose cluster holds what `options` says. */
export function newWorld(options: WorldOptions = {}): World {
  const cluster = new FakeCluster(options.namespace ? [options.namespace] : []);
  if (options.pendingRelease) {
    cluster.addRelease(NS, RELEASE, options.pendingRelease.history);
  }
  if (options.helmFails) cluster.faults.helmInstallFails = "context deadline exceeded";
  if (options.namespace && options.ingresses) placeIngresses(cluster, options.ingresses);
  cluster.faults.afterRelease = (release) => {
    if (release.namespace !== NS) return;
    if (options.ingresses) placeIngresses(cluster, options.ingresses);
    if (options.pods) placePods(cluster, options.pods);
  };
  const calls: ToolCall[] = [];
  return {
    cluster,
    options,
    calls,
    get namespace() { return cluster.namespaces.get(NS); },
    get applied() {
      return calls.filter((c) => c.tool === "kubectl" && (c.args[0] === "create" || c.args[0] === "apply") && c.args.at(-1) === "-" && c.args.at(-2) === "-f")
        .map((c) => JSON.parse(c.stdin) as KubeObj);
    },
    get token() { return [...cluster.tokens.keys()].at(-1); },
  };
}

/** Options of {@link worldTools}. */
export interface WorldToolsOptions {
  /**
   * How the chart contract's offline calls are answered: `real` runs the real helm and kubectl for
   * every call (the tests about the contract); `cached` (the default) runs them once per distinct
   * call (simulator/tools.ts: the chart's content and the values files are part of the key) and
   * replays that answer, and runs them for real whenever the world adds files to the checkout (a
   * symlink's target is not part of the key).
   */
  contract?: "real" | "cached";
}

const ok = (stdout = ""): ToolReply => ({ stdout });

/**
 * The stand-ins' handler: `git` and `helm pull` as GitHub and the chart registry answer them (the
 * checkout and the pulled chart are the example chart), everything else by the world's fake cluster.
 */
export function worldTools(world: World, options: WorldToolsOptions = {}): (call: ToolCall) => ToolReply | Promise<ToolReply> {
  const extraFiles = world.options.extraFiles ?? {};
  const cache = (options.contract ?? "cached") === "cached" && Object.keys(extraFiles).length === 0;
  return (call) => {
    world.calls.push(call);
    const a = call.args;
    if (call.tool === "git") {
      if (a[0] === "-c" && a[2] === "init") {
        mkdirSync(a[a.length - 1], { recursive: true });
        return ok();
      }
      if (a[0] === "-C" && a[2] === "fetch") return world.options.fetchFails ? { stderr: "fatal: could not read from remote repository\n", code: 128 } : ok();
      if (a[0] === "-C" && a[2] === "checkout") {
        const checkout = a[1];
        cpSync(CHART_DIR, path.join(checkout, "charts", "app"), { recursive: true });
        writeFileSync(path.join(checkout, "README.md"), "# example-app\n");
        for (const [file, content] of Object.entries(extraFiles)) {
          const target = path.join(checkout, file);
          mkdirSync(path.dirname(target), { recursive: true });
          if (typeof content === "string") writeFileSync(target, content);
          else symlinkSync(content.symlink, target);
        }
        return ok();
      }
      if (a[0] === "-C" && a[2] === "rev-parse") return ok(`${world.options.head ?? HEAD_SHA}\n`);
      return { stderr: `unexpected git ${a.join(" ")}\n`, code: 97 };
    }
    if (call.tool === "helm" && a[0] === "pull") {
      // The registry holds the example chart; with --untar it is unpacked into --destination.
      const at = a.indexOf("--destination");
      if (at < 0 || !a.includes("--untar")) return { stderr: `unexpected helm ${a.join(" ")}\n`, code: 97 };
      cpSync(CHART_DIR, path.join(a[at + 1], "app"), { recursive: true });
      writeFileSync(path.join(a[at + 1], "app-0.1.0.tgz"), "");
      return ok();
    }
    // The chart contract's calls need no cluster: the real helm and kubectl answer them, as in the pod.
    if (isOfflineCall(call)) return cache ? cachedRealToolReply(call) : realToolReply(call);
    return world.cluster.handle(call);
  };
}

/**
 * Call lines with the run's random directories named: `<work>` (the deploy scratch dir), `<guardrails>`;
 * the GitHub deployment's id as `<id>`.
 */
export function normalised(lines: string[], guardrails: string): string[] {
  return lines.map((l) => l.replaceAll(guardrails, "<guardrails>").replace(/\/\S*?\/deploy\.[A-Za-z0-9]{6}/g, "<work>")
    .replace(/implementation-dag\/deployment=\d+/, "implementation-dag/deployment=<id>"));
}

/** A call as a `tool arg arg…` line. */
const lineOf = (call: ToolCall): string => [call.tool, ...call.args].join(" ");

/**
 * The calls that reach the (fake) cluster, as normalised lines: every call but the chart contract's
 * offline ones ({@link isOfflineCall}), which {@link offlineLines} lists.
 */
export function clusterLines(calls: ToolCall[], guardrails: string, tools?: string[]): string[] {
  return normalised(calls.filter((c) => !isOfflineCall(c) && (!tools || tools.includes(c.tool))).map(lineOf), guardrails);
}

/** The chart contract's offline calls, as normalised lines (its scratch directory as `<contract>`). */
export function offlineLines(calls: ToolCall[], guardrails: string): string[] {
  return normalised(calls.filter(isOfflineCall).map(lineOf), guardrails).map((l) => l.replace(/\/\S*?\/chart-contract\.[A-Za-z0-9]{6}/g, "<contract>"));
}

/** The files below a directory, relative (for evidence assertions). */
export function filesIn(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** How a test runs the deploy step: its inputs beside the fixture's, and where its tools come from. */
export interface DeployRunOptions {
  /** Parameters replacing the fixture's ({@link PARAMETERS}). */
  parameters?: Partial<typeof PARAMETERS>;
  /** Env replacing what the step gets from config. */
  env?: Record<string, string>;
  /** GNU tools (the default) or busybox applets first on PATH. */
  tools?: "gnu" | "busybox";
  /** `real`: the chart contract's offline calls always run the real tools, never a replayed answer. */
  contract?: "real";
}

/** One run of the deploy step and the calls it made. */
export interface DeployRun {
  r: StepResult;
  /** Every call to the stand-ins, in order. */
  calls: ToolCall[];
  /** The calls that reach the (fake) cluster or git, as normalised lines. */
  cluster: string[];
  /** The chart contract's offline calls, as normalised lines. */
  offline: string[];
  /** Every call, as normalised lines. */
  all: string[];
  /** The `helm upgrade --install` call, if one was made. */
  upgrade?: ToolCall;
}

/**
 * Registers what a deploy test file needs (the rendered deploy template, the guardrails, the fake
 * GitHub of the QA app, stand-ins closed after each test) and returns how to run the step once
 * against a world, as Argo would.
 */
export function useDeployStep() {
  let template: ITemplate;
  let guardrails: string;
  let github: Awaited<ReturnType<typeof githubWorld>>;
  let standIns: StandIns | undefined;
  beforeAll(async () => {
    template = templateNamed(implementationDag(await previewRender()), "deploy");
    guardrails = guardrailsDir();
    github = await githubWorld();
  });
  afterEach(async () => {
    await standIns?.close();
    standIns = undefined;
  });
  afterAll(() => github.gh.close());
  return {
    /** The fake GitHub. */
    get gh(): FakeGitHub { return github.gh; },
    /** The fake GitHub's env for the step (API URL, app id, key file). */
    get githubEnv(): Record<string, string> { return github.env; },
    /** The QA app's private key file (a path outside the repository). */
    get keyFile(): string { return github.keyFile; },
    /** The guardrails directory the step reads. */
    get guardrails(): string { return guardrails; },
    /** The rendered deploy template. */
    get template(): ITemplate { return template; },
    /** Runs deploy against `world`; GitHub's request log starts empty. */
    async run(world: World, options: DeployRunOptions = {}): Promise<DeployRun> {
      github.gh.requests.length = 0;
      await standIns?.close();
      standIns = await startStandIns(["kubectl", "helm", "git"], worldTools(world, options.contract ? { contract: options.contract } : {}));
      const r = await runScriptTemplate(template, {
        parameters: { ...PARAMETERS, ...options.parameters },
        workflow: { name: WORKFLOW },
        pathPrepend: options.tools === "busybox" ? [busyboxDir(), standIns.dir] : [standIns.dir],
        standInEnv: { ...standIns.env, ...github.env, GUARDRAILS_DIR: guardrails, ...options.env },
      });
      const calls = standIns.calls;
      return {
        r, calls, cluster: clusterLines(calls, guardrails), offline: offlineLines(calls, guardrails), all: normalised(calls.map(lineOf), guardrails),
        upgrade: calls.find((c) => c.tool === "helm" && c.args[0] === "upgrade"),
      };
    },
  };
}
