/**
 * The world the deploy tests run the deploy and discovery scripts in: a fake GitHub with the QA
 * app and one PR, a small stateful fake cluster behind the kubectl, helm and git stand-ins, the
 * guardrail files as the ConfigMap mounts them, and a directory of busybox applets.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { afterAll, afterEach, beforeAll } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { parseConfig } from "../../components/config";
import { buildGuardrails, guardrailFiles } from "../../components/guardrails";
import { PROJECT_ROOT, readStackConfig } from "../../scripts/offline-render";
import { generateAppKey, startFakeGitHub, type FakeGitHub } from "../../simulator/fake-github";
import { isOfflineCall, startStandIns, type StandIns, type ToolCall, type ToolReply } from "../../simulator/stand-ins";
import { runScriptTemplate, type StepResult } from "../../simulator/argo-step";
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
/** The preview stack's instance: its workflows namespace, the value of its previews' instance label. */
export const INSTANCE = "argo";
/** The preview stack's ClusterRoles deploy binds in each preview namespace (implementation-dag-<instance>-<purpose>). */
export const DEPLOYER_ROLE = "implementation-dag-argo-deployer";
export const GUARDRAILS_ROLE = "implementation-dag-argo-guardrails";
/** The token `kubectl create token` answers with. */
export const KUBE_TOKEN = "eyJhbGciOi.preview-deployer.token";
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
  const key = generateAppKey();
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

/** An Ingress fixture. */
export function ingress(name: string, rules: Array<{ host?: string; paths?: string[] }>, tlsHosts?: string[][]): object {
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

/** A pod fixture: ready or not, with a restart count. */
export function pod(name: string, ready: boolean, restarts = 0): object {
  return {
    metadata: { name, namespace: NS },
    status: {
      phase: "Running",
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
      containerStatuses: [{ name: "app", ready, restartCount: restarts }],
    },
  };
}

/** What the fake cluster and the fake git/helm know and do. */
export interface World {
  /** The Namespace object, when it exists. */
  namespace?: Record<string, unknown>;
  ingresses: object[];
  pods: object[];
  /** Whether `helm upgrade` fails. */
  helmFails?: boolean;
  /** The commit the fake checkout is at (what `git rev-parse HEAD` answers); defaults to HEAD_SHA. */
  head?: string;
  /** Whether `git fetch` fails. */
  fetchFails?: boolean;
  /** Files added to the checkout after the chart (path → content, or `{ symlink }`). */
  extraFiles?: Record<string, string | { symlink: string }>;
  /** Objects created or applied through stdin, in order. */
  applied: Array<Record<string, unknown>>;
  /** Contents of the directory applied with `kubectl apply -f DIR`. */
  appliedDirs: Array<Record<string, string>>;
  /** A release a killed step left pending, with its revisions (`helm history -o json`). */
  pendingRelease?: { status: string; history: Array<{ revision: number; status: string; description?: string }> };
  /**
   * Who each helm call ran as, in order: the token of the kubeconfig it was given (`--kubeconfig`
   * or KUBECONFIG) and that file's permission bits, or `null` (the pod's own service account).
   */
  helmAuth?: Array<{ verb: string; token: string | null; mode: number | null }>;
}

/** A world with nothing in the cluster yet. */
export function newWorld(overrides: Partial<World> = {}): World {
  return { ingresses: [CHART_INGRESS], pods: [], applied: [], appliedDirs: [], ...overrides };
}

/**
 * A preview namespace as an earlier run of this repository and this stack left it (labelled with the
 * stack's instance). `instance: null` leaves the instance label out: a preview made before it existed.
 */
export function previewNamespace(extra: { labels?: Record<string, string>; annotations?: Record<string, string>; phase?: string; instance?: string | null } = {}): Record<string, unknown> {
  const instance: Record<string, string> = extra.instance === null ? {} : { "implementation-dag/instance": extra.instance ?? INSTANCE };
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: NS,
      labels: { preview: "true", pr: PR, workflow: "implementation-dag-old01", ...instance, ...extra.labels },
      annotations: { "implementation-dag/repository": `${OWNER}/${REPO}`, ...extra.annotations },
    },
    status: { phase: extra.phase ?? "Active" },
  };
}

const ok = (stdout = ""): ToolReply => ({ stdout });

/**
 * The kubeconfig a helm call names (`--kubeconfig PATH`, `--kubeconfig=PATH`, else KUBECONFIG), read
 * as helm reads it: the current context's user's token. Stricter than helm, which only warns: a file
 * readable by group or others is refused, and a token helm could not authenticate with is
 * Unauthorized, as the API server answers.
 */
export function helmKubeconfig(call: ToolCall): { token: string | null; mode: number | null } | { error: string } {
  const a = call.args;
  const i = a.findIndex((x) => x === "--kubeconfig" || x.startsWith("--kubeconfig="));
  const file = i < 0 ? call.env.KUBECONFIG : a[i].includes("=") ? a[i].slice(a[i].indexOf("=") + 1) : a[i + 1];
  if (!file) return { token: null, mode: null };
  const where = path.resolve(call.cwd, file);
  if (!existsSync(where)) return { error: `Error: Kubernetes cluster unreachable: stat ${file}: no such file or directory\n` };
  const mode = statSync(where).mode & 0o777;
  if ((mode & 0o077) !== 0) return { error: `stand-in helm: the kubeconfig ${file} is readable by others (mode ${mode.toString(8)}); it holds a token\n` };
  type Kubeconfig = { "current-context"?: string; contexts?: Array<{ name: string; context?: { user?: string } }>; users?: Array<{ name: string; user?: { token?: string } }> };
  const config = parseYaml(readFileSync(where, "utf8")) as Kubeconfig | null;
  const context = config?.contexts?.find((c) => c.name === config["current-context"])?.context;
  const token = config?.users?.find((u) => u.name === context?.user)?.user?.token;
  if (token !== KUBE_TOKEN) return { error: "Error: Kubernetes cluster unreachable: Unauthorized\n" };
  return { token, mode };
}


export { realToolReply };

/** Options of {@link worldHandler}. */
export interface WorldHandlerOptions {
  /**
   * How the chart contract's offline calls are answered: `real` runs the real helm and kubectl for
   * every call (the tests about the contract); `cached` (the default) runs them once per distinct
   * call on the unchanged example chart and replays that answer, and runs them for real whenever
   * the world adds files to the checkout.
   */
  contract?: "real" | "cached";
}

/** The stand-ins' handler: answers kubectl, helm and git against the world. */
export function worldHandler(world: World, options: WorldHandlerOptions = {}): (call: ToolCall) => ToolReply {
  const cache = (options.contract ?? "cached") === "cached" && Object.keys(world.extraFiles ?? {}).length === 0;
  return (call) => {
    const a = call.args;
    const joined = a.join(" ");
    if (call.tool === "git") {
      if (a[0] === "-c" && a[2] === "init") {
        mkdirSync(a[a.length - 1], { recursive: true });
        return ok();
      }
      if (a[0] === "-C" && a[2] === "fetch") return world.fetchFails ? { stderr: "fatal: could not read from remote repository\n", code: 128 } : ok();
      if (a[0] === "-C" && a[2] === "checkout") {
        const checkout = a[1];
        cpSync(CHART_DIR, path.join(checkout, "charts", "app"), { recursive: true });
        writeFileSync(path.join(checkout, "README.md"), "# example-app\n");
        for (const [file, content] of Object.entries(world.extraFiles ?? {})) {
          const target = path.join(checkout, file);
          mkdirSync(path.dirname(target), { recursive: true });
          if (typeof content === "string") writeFileSync(target, content);
          else symlinkSync(content.symlink, target);
        }
        return ok();
      }
      if (a[0] === "-C" && a[2] === "rev-parse") return ok(`${world.head ?? HEAD_SHA}\n`);
      return { stderr: `unexpected git ${joined}\n`, code: 97 };
    }
    // The chart contract's calls need no cluster: the real helm and kubectl answer them, as in the pod.
    if (isOfflineCall(call)) return cache ? cachedRealToolReply(call) : realToolReply(call);
    if (call.tool === "helm") {
      const auth = helmKubeconfig(call);
      if ("error" in auth) return { stderr: auth.error, code: 1 };
      (world.helmAuth ??= []).push({ verb: a[0] ?? "", token: auth.token, mode: auth.mode });
      if (a[0] === "upgrade") return world.helmFails ? { stdout: "Release \"x\" does not exist. Installing it now.\n", stderr: "Error: context deadline exceeded\n", code: 1 } : ok("Release has been upgraded. Happy Helming!\n");
      if (a[0] === "list" && a.includes("--pending")) {
        const p = world.pendingRelease;
        const last = p?.history.at(-1);
        return ok(JSON.stringify(p ? [{ name: RELEASE, namespace: NS, revision: String(last?.revision ?? 1), status: p.status, chart: "app-0.1.0", app_version: "1.27" }] : []) + "\n");
      }
      if (a[0] === "history" && a.includes("json")) {
        return world.pendingRelease ? ok(JSON.stringify(world.pendingRelease.history.map((h) => ({ chart: "app-0.1.0", app_version: "1.27", description: "", ...h }))) + "\n") : { stderr: "Error: release: not found\n", code: 1 };
      }
      if (a[0] === "rollback" || a[0] === "uninstall") {
        world.pendingRelease = undefined;
        return ok(a[0] === "rollback" ? "Rollback was a success! Happy Helming!\n" : `release "${RELEASE}" uninstalled\n`);
      }
      if (a[0] === "status") return ok(`NAME: ${RELEASE}\nSTATUS: failed\n`);
      if (a[0] === "history") return ok("REVISION\tSTATUS\tDESCRIPTION\n1\tfailed\tcontext deadline exceeded\n");
      if (a[0] === "pull") {
        // With --untar, the chart is unpacked into the --destination directory.
        const destination = a[a.indexOf("--destination") + 1];
        cpSync(CHART_DIR, path.join(destination, "app"), { recursive: true });
        writeFileSync(path.join(destination, "app-0.1.0.tgz"), "");
        return ok();
      }
      return { stderr: `unexpected helm ${joined}\n`, code: 97 };
    }
    // kubectl
    if (joined === `get namespace ${NS} -o json --ignore-not-found`) return ok(world.namespace ? JSON.stringify(world.namespace) : "");
    if (joined === `get namespace ${NS} -o json`) return world.namespace ? ok(JSON.stringify(world.namespace)) : { stderr: `Error from server (NotFound): namespaces "${NS}" not found\n`, code: 1 };
    if ((a[0] === "create" || a[0] === "apply") && a[a.length - 1] === "-") {
      const obj = JSON.parse(call.stdin) as Record<string, unknown>;
      world.applied.push(obj);
      if (obj.kind === "Namespace") world.namespace = { ...structuredClone(obj), status: { phase: "Active" } };
      return ok(`${String(obj.kind).toLowerCase()}/${(obj.metadata as { name: string }).name} ${a[0] === "create" ? "created" : "configured"}\n`);
    }
    if (a[0] === "apply" && a[1] === "-n" && a[3] === "-f") {
      const dir = a[4];
      world.appliedDirs.push(Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(path.join(dir, f), "utf8")])));
      return ok("resourcequota/implementation-dag-guardrails created\n");
    }
    if (a[0] === "label" || a[0] === "annotate") {
      const meta = (world.namespace?.metadata ?? {}) as { labels?: Record<string, string>; annotations?: Record<string, string> };
      const field = a[0] === "label" ? "labels" : "annotations";
      for (const kv of a.slice(3).filter((x) => x.includes("="))) {
        const [k, v] = [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)];
        meta[field] = { ...meta[field], [k]: v };
      }
      return ok(`namespace/${NS} ${a[0] === "label" ? "labeled" : "annotated"}\n`);
    }
    if (a[0] === "create" && a[1] === "token") return ok(`${KUBE_TOKEN}\n`);
    if (joined === `get ingress -n ${NS} -o json`) return ok(JSON.stringify({ apiVersion: "v1", kind: "List", items: world.ingresses }));
    if (a[0] === "get" && a[1] === "events") return ok("LAST SEEN   TYPE      REASON    OBJECT      MESSAGE\n1m   Warning   BackOff   pod/app-1   Back-off restarting failed container\n");
    if (joined === `get pods -n ${NS} -o json`) return ok(JSON.stringify({ items: world.pods }));
    if (a[0] === "describe") return ok(`Name: ${a[2]}\nEvents: Back-off restarting failed container\n`);
    if (a[0] === "logs") return ok(`[pod/${a[1]}/app] nginx: [emerg] open() failed (30: Read-only file system)\n`);
    return { stderr: `unexpected kubectl ${joined}\n`, code: 97 };
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
      standIns = await startStandIns(["kubectl", "helm", "git"], worldHandler(world, options.contract ? { contract: options.contract } : {}));
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
