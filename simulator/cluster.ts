/**
 * A stateful stand-in cluster behind the recording `kubectl` and `helm` stand-ins, the one every test
 * and the offline world share: namespaces as the API returns them (labels, annotations, creation and
 * deletion timestamps, finalizers, conditions), the objects applied into them, the Argo Workflows of
 * any namespace, PersistentVolumes, service-account tokens, and Helm releases whose objects are
 * rendered by the real helm (`helm template`) from the chart and values the step passed — so URL
 * discovery reads the Ingresses the chart would really create — with their revisions (`helm history`,
 * `rollback`, a release left pending by a killed step). Every helm call runs as someone: the token of
 * its kubeconfig (checked against the tokens issued and their namespace) or the pod's own account. A release's Deployments run: their
 * pods appear (and replace the previous revision's) as the controllers would make them, running and
 * ready, each container with the image digest the node reports, a `Started` event, and a log
 * (./cluster-controllers.ts, `kubectl logs`).
 *
 * It also holds what `npm run doctor` reads: the kube context and the server's version, CRDs (a
 * fresh cluster has Argo's; a custom resource type is served only while its CRD exists), ConfigMaps,
 * Secrets, IngressClasses and the agent's (Cluster)WorkflowTemplate, which a test puts in with
 * {@link FakeCluster.seed} and takes out with {@link FakeCluster.remove}.
 *
 * It answers exactly the command lines the step scripts and the doctor use, parsed flag by flag against a table per
 * command (./kubectl-syntax.ts); any other command line, flag or form fails loudly (exit 97, the line
 * on stderr) and is listed in {@link FakeCluster.unknown}, so a test can never pass on a command the
 * fake guessed at. A test can make the API server fail a call, or change the cluster just before one
 * ({@link ClusterFaults}), as a run racing the step would.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { isOfflineCall, type ToolCall, type ToolReply } from "./stand-ins";
import { cachedRealToolReply, realTool, remembered, treeDigest, valueFiles } from "./tools";
import { isTrue, jsonPath, kindOf, KINDS, labelSelector, notFound, one, parseArgs, qualified, RESOURCES, type Kind, type Parsed, type ResourceType } from "./kubectl-syntax";
import { ARGO_CRD_NAMES, argoCrd } from "./cluster-model";
import type {
  ClusterEvent, ClusterFaults, FakeClusterState, FakeNamespace, FakeRelease, KubeObj, ReleaseRevision, ReleaseStatus, ServerVersion,
} from "./cluster-model";
import { rollOut } from "./cluster-controllers";

export { ARGO_CRD_NAMES, argoCrd } from "./cluster-model";

export type { ClusterFaults, FakeClusterState, FakeNamespace, FakeRelease, KubeObj, ReleaseStatus, ServerVersion } from "./cluster-model";

const exec = promisify(execFile);
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
const failure = (message: string): ToolReply => ({ stderr: `${message}\n`, code: 1 });
/** What the kubectl on PATH (the layer's, simulator/tools.ts) reports of itself in `kubectl version -o json` (test/simulator/cluster.test.ts holds it to the real one). */
const KUBECTL_CLIENT = {
  clientVersion: {
    major: "1", minor: "35", gitVersion: "v1.35.2", gitCommit: "fdc9d74cbf2da6754ebf81d56f80ae2948cd6425", gitTreeState: "clean",
    buildDate: "2026-02-26T20:05:34Z", goVersion: "go1.25.7", compiler: "gc", platform: "linux/amd64",
  },
  kustomizeVersion: "v5.7.1",
};
/** The server a fresh cluster runs. */
const freshServerVersion = (): ServerVersion => ({ major: "1", minor: "31", gitVersion: "v1.31.2", platform: "linux/amd64" });
/** The cluster-scoped objects of a fresh cluster, by `Kind/name`: Argo's CRDs. */
const freshClusterObjects = (): Map<string, KubeObj> => new Map(ARGO_CRD_NAMES.map((n) => [`CustomResourceDefinition/${n}`, argoCrd(n)]));
interface ChartMetadata { name: string; version: string; appVersion?: string }
/** The Chart.yaml of the chart in DIR. */
const chartMetadata = (dir: string): ChartMetadata => parseAllDocuments(readFileSync(path.join(dir, "Chart.yaml"), "utf8"))[0].toJSON() as ChartMetadata;
/** A chart as helm names it in a release (`<name>-<version>`) and its app version. */
const releaseChart = (meta: ChartMetadata) => ({ chart: `${meta.name}-${meta.version}`, appVersion: meta.appVersion ?? "" });
/** The example chart (charts/app), which the releases a test seeds are made of. */
const EXAMPLE_CHART = releaseChart(chartMetadata(path.join(__dirname, "..", "charts", "app")));

/**
 * The real `helm template` with `args`, run once per distinct chart content, values and arguments
 * (simulator/tools.ts `remembered`): the tests install the same example chart with the same values
 * many times, each from a checkout of its own (the paths differ, the content does not). A failure
 * is never kept.
 */
async function renderChart(args: string[], inputs: string[]): Promise<string> {
  const hash = createHash("sha256");
  for (const input of inputs) {
    if (statSync(input).isDirectory()) treeDigest(input, hash);
    else hash.update(readFileSync(input));
    hash.update("\0\0");
  }
  const key = `render ${hash.digest("hex")} ${JSON.stringify(args.map((a) => (inputs.includes(a) ? "<input>" : a)))}`;
  return remembered(key, async () => (await exec(realTool("helm"), args, { encoding: "utf8", maxBuffer: 32 << 20 })).stdout);
}

/** The fake cluster. */
export class FakeCluster {
  /** Namespaces by name, as the API returns them. */
  readonly namespaces = new Map<string, FakeNamespace>();
  /** Namespaced objects by namespace (Argo Workflows among them, in whichever namespace they run). */
  readonly objects = new Map<string, KubeObj[]>();
  /**
   * Other cluster-scoped objects (CRDs, IngressClasses, ClusterWorkflowTemplates) by `Kind/name`. A
   * fresh cluster has Argo's CRDs ({@link ARGO_CRD_NAMES}); a custom resource type is served only while
   * its CRD is here.
   */
  clusterObjects = freshClusterObjects();
  /** The kubeconfig's current context (`kubectl config current-context`); none, as in a step pod, which reaches the API server as its service account. */
  context: string | null = null;
  /** What `kubectl version` reports of the server. */
  serverVersion = freshServerVersion();
  /** Helm releases by `namespace/name`. */
  readonly releases = new Map<string, FakeRelease>();
  /** Tokens issued by `kubectl create token`: token to service account. */
  readonly tokens = new Map<string, { namespace: string; serviceAccount: string }>();
  /** Every change, in order. */
  readonly events: ClusterEvent[] = [];
  /** Command lines the fake refused to guess at. */
  readonly unknown: string[] = [];
  /** Container logs set by {@link setLog}, by `namespace/pod/container`. */
  readonly logs = new Map<string, { current: string[]; previous?: string[] }>();
  /**
   * Who each helm call that reached the cluster ran as, in order: the token of the kubeconfig it was
   * given and that file's permission bits, or `null` (the pod's own service account).
   */
  readonly helmCallers: Array<{ verb: string; token: string | null; mode: number | null }> = [];
  /** Failures and races of the API server. */
  faults: ClusterFaults = {};
  /** Namespace list calls answered so far (the full listing and the narrowed ones alike). */
  private namespaceListCalls = 0;
  /** Workflow list calls answered so far. */
  private workflowListCalls = 0;
  private tokenCount = 0;

  /**
   * A cluster holding `namespaces` (as the API would return them) and, per namespace, the names of
   * Helm releases an earlier deploy left there (their objects are not modelled).
   */
  constructor(namespaces: FakeNamespace[] = [], releases: Record<string, string[]> = {}) {
    for (const ns of namespaces) this.addNamespace(ns);
    for (const [namespace, names] of Object.entries(releases)) {
      for (const name of names) {
        this.addRelease(namespace, name, [{ revision: 1, status: "deployed", description: "Install complete" }]);
      }
    }
  }

  /** Adds a namespace as given (a copy), replacing one of the same name. */
  addNamespace(ns: FakeNamespace): void {
    this.namespaces.set(ns.metadata.name, structuredClone(ns));
    if (!this.objects.has(ns.metadata.name)) this.objects.set(ns.metadata.name, []);
  }

  /** Answers one stand-in call (a bound function: pass it to `startStandIns` as it is). */
  readonly handle = async (call: ToolCall): Promise<ToolReply> => {
    const line = [call.tool, ...call.args].join(" ");
    try {
      // A token on a command line is readable by every process of the pod (/proc/<pid>/cmdline).
      if ([...this.tokens.keys()].some((t) => call.args.some((a) => a.includes(t)))) throw new Error("a service-account token in argv");
      // What needs no cluster (the chart contract's lint, render and YAML-to-JSON) the real tools answer.
      // Every e2e checkout is the example chart, so each distinct call runs once and is replayed.
      if (isOfflineCall(call)) return cachedRealToolReply(call);
      if (call.tool === "kubectl") return await this.kubectl(call);
      if (call.tool === "helm") return await this.helmCall(call);
      throw new Error("no such tool in the fake cluster");
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.unknown.push(`${line}  (${why})`);
      return { stderr: `fake cluster: cannot answer: ${line}\n  ${why}\n`, code: 97 };
    }
  };

  /** What the cluster holds (namespaces, objects, releases, cluster-scoped objects), as plain JSON, to carry to another world. */
  exportState(): FakeClusterState {
    const state: FakeClusterState = {
      namespaces: [...this.namespaces.values()],
      objects: [...this.objects.entries()],
      releases: [...this.releases.values()],
      clusterObjects: [...this.clusterObjects.values()],
    };
    return JSON.parse(JSON.stringify(state)) as FakeClusterState;
  }

  /** Takes over a state {@link exportState} gave (replacing what this cluster holds). */
  importState(state: FakeClusterState): void {
    this.reset();
    for (const n of structuredClone(state.namespaces)) this.namespaces.set(n.metadata.name, n);
    for (const [ns, objs] of structuredClone(state.objects)) this.objects.set(ns, objs);
    for (const r of structuredClone(state.releases)) this.releases.set(`${r.namespace}/${r.name}`, r);
    if (state.clusterObjects) this.clusterObjects = new Map(structuredClone(state.clusterObjects).map((o) => [`${o.kind}/${o.metadata.name}`, o]));
  }

  /** Forgets everything (between test cases): back to a fresh cluster. */
  reset(): void {
    this.namespaces.clear();
    this.objects.clear();
    this.clusterObjects = freshClusterObjects();
    this.context = null;
    this.serverVersion = freshServerVersion();
    this.releases.clear();
    this.tokens.clear();
    this.logs.clear();
    this.helmCallers.length = 0;
    this.events.length = 0;
    this.unknown.length = 0;
    this.faults = {};
    this.namespaceListCalls = 0;
    this.workflowListCalls = 0;
  }

  /** Namespaces labelled `preview=true`, as `kubectl get ns -l preview=true` lists them. */
  previewNamespaces(): string[] {
    return [...this.namespaces.values()].filter((n) => n.metadata.labels?.preview === "true").map((n) => n.metadata.name).sort();
  }

  /** Releases as `helm list -A` lists them: `namespace/name`. */
  releaseNames(): string[] {
    return [...this.releases.values()].map((r) => `${r.namespace}/${r.name}`).sort();
  }

  /** The names of the releases in `namespace`, as `helm list --namespace NS --short` lists them. */
  releasesIn(namespace: string): string[] {
    return [...this.releases.values()].filter((r) => r.namespace === namespace).map((r) => r.name).sort();
  }

  /** The Workflows of `namespace`, or of every namespace. */
  workflows(namespace?: string): KubeObj[] {
    return [...this.objects.entries()].filter(([ns]) => namespace === undefined || ns === namespace)
      .flatMap(([, objs]) => objs.filter((o) => o.kind === "Workflow"));
  }

  private record(e: Omit<ClusterEvent, "tool">, tool: string) {
    this.events.push({ ...e, tool });
  }

  // -- kubectl ---------------------------------------------------------------------------------

  private async kubectl(call: ToolCall): Promise<ToolReply> {
    const [verb, ...rest] = call.args;
    // The kubeconfig is read without the server; every other verb needs it (get and version check
    // their arguments first, so a call the fake does not understand still fails loudly).
    if (verb === "config") return this.kConfig(rest);
    if (this.faults.unreachable !== undefined && ["annotate", "label", "delete", "logs", "describe", "patch", "apply", "create"].includes(verb ?? "")) return this.refused();
    switch (verb) {
      case "version": return this.kVersion(rest);
      case "get": return this.kGet(call, rest);
      case "annotate":
      case "label": return this.kMeta(call, verb, rest);
      case "delete": return this.kDelete(call, rest);
      case "logs": return this.kLogs(rest);
      case "describe": return this.kDescribe(rest);
      case "patch": return this.kPatch(rest);
      case "apply":
      case "create": return verb === "create" && rest[0] === "token" ? this.kToken(call, rest.slice(1)) : this.kApply(call, verb, rest);
      default: throw new Error(`kubectl ${verb ?? ""}: verb not understood`);
    }
  }

  /** `kubectl config current-context`: the context the kubeconfig names, or kubectl's error without one. */
  private kConfig(args: string[]): ToolReply {
    if (args.join(" ") !== "current-context") throw new Error(`kubectl config ${args.join(" ")}: only current-context is understood`);
    return this.context === null ? failure("error: current-context is not set") : { stdout: `${this.context}\n` };
  }

  /** `kubectl version [-o json]`: the client's version and the server's ({@link serverVersion}). */
  private kVersion(args: string[]): ToolReply {
    const output = one(parseArgs(args, ["-o", "--output"], []), "-o", "--output");
    if (output !== undefined && output !== "json") throw new Error(`kubectl version -o ${output} not understood`);
    // Without a server, kubectl prints the client's part and fails.
    const unreachable = this.faults.unreachable !== undefined;
    const server = unreachable ? {} : { serverVersion: this.serverVersion };
    const stdout = output === "json"
      ? `${JSON.stringify({ ...KUBECTL_CLIENT, ...server }, null, 2)}\n`
      : `Client Version: ${KUBECTL_CLIENT.clientVersion.gitVersion}\nKustomize Version: ${KUBECTL_CLIENT.kustomizeVersion}\n${unreachable ? "" : `Server Version: ${this.serverVersion.gitVersion}\n`}`;
    return unreachable ? { stdout, stderr: this.connectionRefused(), code: 1 } : { stdout };
  }

  /**
   * kubectl's answer to a call that needs the API server when none answers at
   * {@link ClusterFaults.unreachable}: API discovery fails first (its log line), then the call.
   */
  private refused(): ToolReply {
    const at = this.faults.unreachable ?? "";
    const discovery = `E0101 00:00:00.000000       1 memcache.go:265] "Unhandled Error" err="couldn't get current server API group list: Get \\"http://${at}/api?timeout=32s\\": dial tcp ${at}: connect: connection refused"\n`;
    return { stderr: discovery + this.connectionRefused(), code: 1 };
  }

  /** kubectl's last word when no API server answers at {@link ClusterFaults.unreachable}. */
  private connectionRefused(): string {
    return `The connection to the server ${this.faults.unreachable ?? ""} was refused - did you specify the right host or port?\n`;
  }

  /** Whether the server knows the resource type: a built-in one, or a custom one whose CRD exists. */
  private serves(t: ResourceType): boolean {
    return !t.crd || this.clusterObjects.has(`CustomResourceDefinition/${qualified(t)}`);
  }

  /** The Forbidden of a read RBAC refuses ({@link ClusterFaults.forbidden}), if it does. */
  private refusal(verb: "get" | "list", t: ResourceType, namespace: string | undefined, name?: string): ToolReply | undefined {
    const rbac = this.faults.forbidden;
    const resource = qualified(t);
    if (!rbac?.denies({ verb, resource, ...(namespace === undefined ? {} : { namespace }) })) return undefined;
    const scope = namespace === undefined ? "at the cluster scope" : `in the namespace "${namespace}"`;
    return failure(`Error from server (Forbidden): ${name === undefined ? resource : `${resource} "${name}"`} is forbidden: User "${rbac.user}" cannot ${verb} resource "${t.plural}" in API group "${t.group}" ${scope}`);
  }

  /**
   * Puts objects into the cluster as someone with every right created them (copies, each replacing
   * one of the same kind, name and namespace): what a cluster holds before a test's calls. A
   * namespaced object needs its namespace, a custom resource its CRD; a namespace is added with
   * {@link addNamespace}.
   */
  seed(...objs: KubeObj[]): void {
    for (const given of objs) {
      const o = structuredClone(given);
      const t: ResourceType | undefined = RESOURCES[o.kind as Kind];
      if (!t || o.kind === "Namespace") throw new Error(`seed: ${o.kind} is not a kind the fake serves apart from namespaces`);
      if (!this.serves(t)) throw new Error(`seed: ${o.kind} ${o.metadata.name}: the cluster has no CRD ${qualified(t)}`);
      if (!t.namespaced) {
        this.clusterObjects.set(`${o.kind}/${o.metadata.name}`, o);
      } else {
        const ns = o.metadata.namespace;
        if (!ns || !this.namespaces.has(ns)) throw new Error(`seed: ${o.kind} ${o.metadata.name}: namespace ${ns ?? "(none)"} does not exist`);
        const list = (this.objects.get(ns) ?? []).filter((x) => !(x.kind === o.kind && x.metadata.name === o.metadata.name));
        this.objects.set(ns, [...list, o]);
      }
    }
  }

  /**
   * Removes an object as an administrator's delete would, once done: removing a namespace removes
   * everything in it (Helm's releases too), removing a CRD every object of its resource type.
   */
  remove(kind: Kind, name: string, namespace?: string): void {
    const t: ResourceType = RESOURCES[kind];
    if (t.namespaced !== (namespace !== undefined)) throw new Error(`remove: ${kind} ${name} ${t.namespaced ? "needs" : "takes no"} namespace`);
    if (kind === "Namespace") {
      if (!this.dropNamespace(name)) throw new Error(`remove: no Namespace ${name}`);
      return;
    }
    if (namespace !== undefined) {
      const list = this.objects.get(namespace) ?? [];
      if (!list.some((o) => o.kind === kind && o.metadata.name === name)) throw new Error(`remove: no ${kind} ${namespace}/${name}`);
      this.objects.set(namespace, list.filter((o) => !(o.kind === kind && o.metadata.name === name)));
      return;
    }
    if (!this.clusterObjects.delete(`${kind}/${name}`)) throw new Error(`remove: no ${kind} ${name}`);
    if (kind !== "CustomResourceDefinition") return;
    const gone = kindOf(name);
    if (gone === undefined) return;
    for (const [ns, list] of this.objects) this.objects.set(ns, list.filter((o) => o.kind !== gone));
    for (const [key, o] of this.clusterObjects) if (o.kind === gone) this.clusterObjects.delete(key);
  }

  /**
   * Deletes namespace `name` as the namespace controller finishes it: everything inside goes, Helm's
   * release records included. Whether there was one.
   */
  private dropNamespace(name: string): boolean {
    if (!this.namespaces.delete(name)) return false;
    this.objects.delete(name);
    for (const [key, r] of this.releases) if (r.namespace === name) this.releases.delete(key);
    return true;
  }

  /**
   * Adds objects someone else created in the cluster (the runner's child Workflows, a test's runs).
   * They are kept as given, not copied: a status that changes later is seen as it is then.
   */
  adopt(...objs: KubeObj[]): void {
    for (const o of objs) {
      const ns = o.metadata.namespace;
      if (!ns) throw new Error("adopt: a namespaced object needs its namespace");
      const list = this.objects.get(ns) ?? [];
      list.push(o);
      this.objects.set(ns, list);
    }
  }

  /** `kubectl patch KIND NAME -n NS --type merge -p JSON`: only a Workflow's spec.shutdown is understood. */
  private kPatch(args: string[]): ToolReply {
    const p = parseArgs(args, ["-n", "--namespace", "--type", "-p", "--patch"], []);
    const [resource, name, ...more] = p.positional;
    if (more.length > 0 || !resource || !name) throw new Error("kubectl patch: expected RESOURCE NAME");
    if (KINDS[resource.toLowerCase()] !== "Workflow") throw new Error(`kubectl patch: only workflows are understood, not ${resource}`);
    if (!this.serves(RESOURCES.Workflow)) return failure('error: the server doesn\'t have a resource type "workflows"');
    if (one(p, "--type") !== "merge") throw new Error("kubectl patch: only --type merge is understood");
    const namespace = one(p, "-n", "--namespace");
    if (!namespace) throw new Error("kubectl patch: namespaced resources need -n");
    const patch = JSON.parse(one(p, "-p", "--patch") ?? "null") as { spec?: { shutdown?: string } } | null;
    if (!patch || Object.keys(patch).join() !== "spec" || Object.keys(patch.spec ?? {}).join() !== "shutdown") {
      throw new Error("kubectl patch: only {\"spec\":{\"shutdown\":…}} is understood");
    }
    const o = (this.objects.get(namespace) ?? []).find((x) => x.kind === "Workflow" && x.metadata.name === name);
    if (!o) return notFound("workflows.argoproj.io", name);
    (o.spec as Record<string, unknown>).shutdown = patch.spec!.shutdown;
    this.record({ verb: "update", kind: "Workflow", namespace, name }, "kubectl");
    return { stdout: `workflow.argoproj.io/${name} patched\n` };
  }

  private kGet(call: ToolCall, args: string[]): ToolReply {
    const p = parseArgs(args, ["-n", "--namespace", "-o", "--output", "-l", "--selector", "--sort-by", "--field-selector"], ["--ignore-not-found", "-A", "--all-namespaces"]);
    const [resource, name, ...more] = p.positional;
    if (more.length > 0 || !resource) throw new Error("kubectl get: expected RESOURCE [NAME]");
    const kind = KINDS[resource.toLowerCase()];
    if (!kind) throw new Error(`kubectl get: resource ${resource} not understood`);
    const output = one(p, "-o", "--output");
    const selector = one(p, "-l", "--selector");
    const ignore = isTrue(p, "--ignore-not-found");
    // Only the field selector the scripts use: one object by name, within a list call.
    const fields = one(p, "--field-selector");
    const fieldName = fields === undefined ? undefined : /^metadata\.name=([a-z0-9.-]+)$/.exec(fields)?.[1];
    if (fields !== undefined && (fieldName === undefined || name)) throw new Error(`kubectl get --field-selector ${fields} not understood`);
    const byField = (n: string) => fieldName === undefined || n === fieldName;
    const selects = selector === undefined ? () => true : labelSelector(selector);
    if (this.faults.unreachable !== undefined) return this.refused();
    const t: ResourceType = RESOURCES[kind];
    // Discovery comes first: without its CRD, kubectl does not know the resource type at all.
    if (!this.serves(t)) return failure(`error: the server doesn't have a resource type "${t.plural}"`);
    const all = isTrue(p, "-A") || isTrue(p, "--all-namespaces");
    const namespace = one(p, "-n", "--namespace");
    if (t.namespaced && !all && !namespace) throw new Error("kubectl get: namespaced resources need -n (the steps never rely on a default namespace)");
    if (!t.namespaced && kind !== "Namespace" && kind !== "PersistentVolume" && (all || namespace !== undefined)) {
      throw new Error(`kubectl get: ${resource} is cluster-scoped: -n and -A are not understood for it`);
    }
    if (one(p, "--sort-by") !== undefined && kind !== "Event") throw new Error("kubectl get --sort-by is only understood for events");
    const denied = this.refusal(name ? "get" : "list", t, t.namespaced && !all ? namespace : undefined, name);
    if (denied) return denied;
    if (kind === "Namespace") {
      if (name) {
        const ns = this.namespaces.get(name);
        if (!ns) return ignore ? { stdout: "" } : notFound("namespaces", name);
        return { stdout: this.format([ns], output, true) };
      }
      this.faults.beforeNamespaceList?.(++this.namespaceListCalls, this);
      if (fieldName !== undefined && this.faults.narrowedListFailure) return failure(this.faults.narrowedListFailure);
      const items = [...this.namespaces.values()].filter((n) => byField(n.metadata.name) && (this.faults.listIgnoresSelector || selects(n.metadata.labels)));
      return { stdout: this.format(items, output, false) };
    }
    if (!t.namespaced) {
      const pool = [...this.clusterObjects.values()].filter((o) => o.kind === kind);
      if (name) {
        const o = pool.find((x) => x.metadata.name === name);
        if (!o) return ignore ? { stdout: "" } : notFound(qualified(t), name);
        return { stdout: this.format([o], output, true) };
      }
      const items = pool.filter((o) => byField(o.metadata.name) && selects(o.metadata.labels));
      if (items.length === 0 && output === undefined) return { stderr: "No resources found\n" };
      return { stdout: this.format(items, output, false) };
    }
    if (kind === "Workflow" && !name) this.faults.beforeWorkflowList?.(++this.workflowListCalls, this);
    const pool = [...this.objects.entries()].filter(([ns]) => all || ns === namespace).flatMap(([, objs]) => objs).filter((o) => o.kind === kind);
    if (name) {
      const o = pool.find((x) => x.metadata.name === name);
      if (!o) return ignore ? { stdout: "" } : notFound(qualified(t), name);
      return { stdout: this.format([o], output, true) };
    }
    const sortBy = one(p, "--sort-by");
    if (sortBy !== undefined && sortBy !== ".lastTimestamp") throw new Error(`kubectl get --sort-by ${sortBy} not understood`);
    const items = pool.filter((o) => byField(o.metadata.name) && selects(o.metadata.labels));
    if (sortBy) items.sort((a, b) => String(a.lastTimestamp ?? "").localeCompare(String(b.lastTimestamp ?? "")));
    if (items.length === 0 && output === undefined) {
      return { stderr: all ? "No resources found\n" : `No resources found in ${namespace} namespace.\n` };
    }
    return { stdout: this.format(items, output, false) };
  }

  private format(items: KubeObj[], output: string | undefined, single: boolean): string {
    if (output === "json") {
      return `${JSON.stringify(single ? items[0] : { apiVersion: "v1", kind: "List", items, metadata: { resourceVersion: "" } }, null, 4)}\n`;
    }
    if (output === "name") return items.map((o) => `${o.kind.toLowerCase()}/${o.metadata.name}\n`).join("");
    if (output?.startsWith("jsonpath=")) {
      const doc = single ? items[0] : { apiVersion: "v1", kind: "List", items };
      return jsonPath(doc, output.slice("jsonpath=".length));
    }
    if (output !== undefined) throw new Error(`output format ${output} not understood`);
    if (items.length === 0) return "";
    if (items[0].kind === "Event") {
      const rows = items.map((e) => {
        const on = (e.involvedObject ?? {}) as { kind?: string; name?: string };
        return ["1m", String(e.type ?? ""), String(e.reason ?? ""), `${(on.kind ?? "").toLowerCase()}/${on.name ?? ""}`, String(e.message ?? "")];
      });
      return this.table([["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], ...rows]);
    }
    if (items[0].kind === "Namespace") {
      const rows = items.map((o) => [o.metadata.name, String((o.status as { phase?: string } | undefined)?.phase ?? "Active"), "1m"]);
      return this.table([["NAME", "STATUS", "AGE"], ...rows]);
    }
    return this.table([["NAME", "AGE"], ...items.map((o) => [o.metadata.name, "1m"])]);
  }

  private table(rows: string[][]): string {
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)) + 3);
    return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join("")).join("\n") + "\n";
  }

  private kMeta(call: ToolCall, verb: "annotate" | "label", args: string[]): ToolReply {
    const p = parseArgs(args, ["-n", "--namespace"], ["--overwrite"]);
    const [resource, name, ...pairs] = p.positional;
    if (KINDS[resource?.toLowerCase() ?? ""] !== "Namespace" || !name) throw new Error(`kubectl ${verb}: only namespaces are understood`);
    if (verb === "annotate") this.faults.beforeAnnotate?.(name, this);
    const ns = this.namespaces.get(name);
    if (!ns) return notFound("namespaces", name);
    const target = verb === "label" ? (ns.metadata.labels ??= {}) : (ns.metadata.annotations ??= {});
    if (pairs.length === 0) throw new Error(`kubectl ${verb}: no key=value given`);
    for (const pair of pairs) {
      const m = /^([^=]+?)(-|=(.*))$/s.exec(pair);
      if (!m) throw new Error(`kubectl ${verb}: ${pair} is not key=value or key-`);
      if (m[2] === "-") { delete target[m[1]]; continue; }
      if (m[1] in target && target[m[1]] !== m[3] && !isTrue(p, "--overwrite")) {
        return { stderr: `error: '${m[1]}' already has a value (${target[m[1]]}), and --overwrite is false\n`, code: 1 };
      }
      target[m[1]] = m[3] ?? "";
    }
    this.record({ verb: "update", kind: "Namespace", name }, call.tool);
    return { stdout: `namespace/${name} ${verb === "label" ? "labeled" : "annotated"}\n` };
  }

  private kDelete(call: ToolCall, args: string[]): ToolReply {
    const p = parseArgs(args, ["-n", "--namespace"], ["--ignore-not-found", "--wait"]);
    const [resource, name, ...more] = p.positional;
    if (KINDS[resource?.toLowerCase() ?? ""] !== "Namespace" || !name || more.length > 0) throw new Error("kubectl delete: only one namespace is understood");
    if (!this.dropNamespace(name)) return isTrue(p, "--ignore-not-found") ? { stdout: "" } : notFound("namespaces", name);
    this.record({ verb: "delete", kind: "Namespace", name }, call.tool);
    return { stdout: `namespace "${name}" deleted\n` };
  }

  private kToken(call: ToolCall, args: string[]): ToolReply {
    const p = parseArgs(args, ["-n", "--namespace", "--duration"], []);
    const [sa, ...more] = p.positional;
    const namespace = one(p, "-n", "--namespace");
    if (!sa || more.length > 0 || !namespace) throw new Error("kubectl create token: expected SA -n NS");
    if (!(this.objects.get(namespace) ?? []).some((o) => o.kind === "ServiceAccount" && o.metadata.name === sa)) {
      return notFound("serviceaccounts", sa);
    }
    const token = `eyJhbGciOiJSUzI1NiJ9.fake.${++this.tokenCount}`;
    this.tokens.set(token, { namespace, serviceAccount: sa });
    return { stdout: `${token}\n` };
  }

  /** Reads the manifests of `-f`: stdin (`-`), a file, or every YAML/JSON file of a directory. */
  private manifests(call: ToolCall, file: string): KubeObj[] {
    let texts: string[];
    if (file === "-") texts = [call.stdin];
    else {
      const full = path.resolve(call.cwd, file);
      if (!existsSync(full)) throw new Error(`-f ${file}: no such file`);
      texts = statSync(full).isDirectory()
        ? readdirSync(full).filter((f) => /\.(ya?ml|json)$/.test(f)).sort().map((f) => readFileSync(path.join(full, f), "utf8"))
        : [readFileSync(full, "utf8")];
    }
    return texts.flatMap((t) => parseAllDocuments(t).map((d) => d.toJSON() as KubeObj | null)).filter((o): o is KubeObj => o !== null)
      .flatMap((o) => (o.kind === "List" ? ((o as { items?: KubeObj[] }).items ?? []) : [o]));
  }

  private kApply(call: ToolCall, verb: "apply" | "create", args: string[]): ToolReply {
    const p = parseArgs(args, ["-n", "--namespace", "-f", "--filename", "-o", "--output", "--field-manager"], ["--server-side", "--force-conflicts"]);
    if (p.positional.length > 0) throw new Error(`kubectl ${verb}: only -f is understood`);
    const files = [...(p.flags.get("-f") ?? []), ...(p.flags.get("--filename") ?? [])];
    if (files.length === 0) throw new Error(`kubectl ${verb}: -f is required`);
    const output = one(p, "-o", "--output");
    if (output !== undefined && output !== "name") throw new Error(`kubectl ${verb}: -o ${output} not understood`);
    const flagNs = one(p, "-n", "--namespace");
    const lines: string[] = [];
    for (const obj of files.flatMap((f) => this.manifests(call, f))) {
      if (!obj.apiVersion || !obj.kind || !obj.metadata?.name) throw new Error(`kubectl ${verb}: an object without apiVersion, kind or metadata.name`);
      const name = obj.metadata.name;
      const kindPath = `${obj.kind.toLowerCase()}/${name}`;
      if (obj.kind === "Namespace") {
        const existing = this.namespaces.get(name);
        if (existing && verb === "create") return { stderr: `Error from server (AlreadyExists): namespaces "${name}" already exists\n`, code: 1 };
        const labels = { ...(obj.metadata.labels ?? {}) };
        const annotations = { ...(obj.metadata.annotations ?? {}) };
        if (existing) {
          existing.metadata.labels = { ...existing.metadata.labels, ...labels };
          existing.metadata.annotations = { ...existing.metadata.annotations, ...annotations };
          this.record({ verb: "update", kind: "Namespace", name }, call.tool);
          lines.push(output === "name" ? kindPath : `${kindPath} configured`);
        } else {
          // The API server labels every namespace with its name and gives it the kubernetes finalizer.
          this.addNamespace({
            apiVersion: "v1", kind: "Namespace",
            metadata: { name, creationTimestamp: now(), labels: { ...labels, "kubernetes.io/metadata.name": name }, annotations },
            spec: { finalizers: ["kubernetes"] },
            status: { phase: "Active" },
          });
          this.record({ verb: "create", kind: "Namespace", name }, call.tool);
          lines.push(output === "name" ? kindPath : `${kindPath} created`);
        }
        continue;
      }
      const namespace = obj.metadata.namespace ?? flagNs;
      if (!namespace) throw new Error(`kubectl ${verb}: ${kindPath} has no namespace and no -n was given`);
      if (obj.metadata.namespace && flagNs && obj.metadata.namespace !== flagNs) {
        return { stderr: `error: the namespace from the provided object "${obj.metadata.namespace}" does not match the namespace "${flagNs}". You must pass '--namespace=${obj.metadata.namespace}' to perform this operation.\n`, code: 1 };
      }
      const ns = this.namespaces.get(namespace);
      if (!ns) return notFound("namespaces", namespace);
      if (ns.status.phase === "Terminating") return { stderr: `Error from server (Forbidden): namespace ${namespace} is being terminated\n`, code: 1 };
      const list = this.objects.get(namespace) ?? [];
      this.objects.set(namespace, list);
      const stored: KubeObj = { ...obj, metadata: { ...obj.metadata, namespace } };
      const at = list.findIndex((o) => o.kind === obj.kind && o.metadata.name === name);
      if (at >= 0 && verb === "create") return { stderr: `Error from server (AlreadyExists): ${obj.kind.toLowerCase()}s "${name}" already exists\n`, code: 1 };
      if (at >= 0) list[at] = stored; else list.push(stored);
      this.record({ verb: at >= 0 ? "update" : "create", kind: obj.kind, namespace, name }, call.tool);
      lines.push(output === "name" ? kindPath : `${kindPath} ${at >= 0 ? "configured" : "created"}`);
    }
    return { stdout: lines.map((l) => `${l}\n`).join("") };
  }

  /**
   * `kubectl logs POD -n NS (-c CONTAINER | --all-containers) [--prefix] [--tail=N] [--limit-bytes=B]
   * [--previous]`: a container's log is what {@link setLog} gave it, else one line per start
   * (`<container>: started <image>`), bounded as kubectl bounds it; `--prefix` puts
   * `[pod/POD/CONTAINER] ` before each line. A previous log exists only for a container that restarted.
   */
  private kLogs(args: string[]): ToolReply {
    const p = parseArgs(args, ["-n", "--namespace", "-c", "--container", "--tail", "--limit-bytes"], ["-p", "--previous", "--all-containers", "--prefix"]);
    const [pod, ...more] = p.positional;
    const namespace = one(p, "-n", "--namespace");
    const container = one(p, "-c", "--container");
    const all = isTrue(p, "--all-containers");
    if (!pod || more.length > 0 || !namespace || (!container === !all)) throw new Error("kubectl logs: expected POD -n NS and one of -c CONTAINER, --all-containers");
    const o = (this.objects.get(namespace) ?? []).find((x) => x.kind === "Pod" && x.metadata.name === pod);
    if (!o) return notFound("pods", pod);
    type Status = { name: string; image: string; restartCount: number; state?: { waiting?: { reason?: string } } };
    const status = o.status as { containerStatuses?: Status[]; initContainerStatuses?: Status[] } | undefined;
    const statuses = [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])];
    const chosen = all ? statuses : statuses.filter((x) => x.name === container);
    if (chosen.length === 0) return { stderr: `error: container ${container ?? ""} is not valid for pod ${pod}\n`, code: 1 };
    const previous = isTrue(p, "--previous") || isTrue(p, "-p");
    const tail = one(p, "--tail");
    let text = "";
    for (const c of chosen) {
      const log = this.logs.get(`${namespace}/${pod}/${c.name}`);
      let lines: string[];
      if (previous) {
        if (c.restartCount === 0 || !log?.previous) {
          return { stderr: `Error from server (BadRequest): previous terminated container "${c.name}" in pod "${pod}" not found\n`, code: 1 };
        }
        lines = log.previous;
      } else if (c.state?.waiting && c.restartCount === 0) {
        // A container that never started has no log; the kubelet says why.
        const reason = c.state.waiting.reason ?? "ContainerCreating";
        const why = reason === "ImagePullBackOff" || reason === "ErrImagePull" ? "trying and failing to pull image" : reason;
        return { stderr: `Error from server (BadRequest): container "${c.name}" in pod "${pod}" is waiting to start: ${why}\n`, code: 1 };
      } else {
        lines = log?.current ?? [`${c.name}: started ${c.image}`];
      }
      if (tail !== undefined && Number(tail) >= 0) lines = Number(tail) === 0 ? [] : lines.slice(-Number(tail));
      text += lines.map((l) => `${isTrue(p, "--prefix") ? `[pod/${pod}/${c.name}] ` : ""}${l}\n`).join("");
    }
    const limit = one(p, "--limit-bytes");
    if (limit !== undefined && Number(limit) > 0) text = Buffer.from(text).subarray(0, Number(limit)).toString("utf8");
    return { stdout: text };
  }

  /** Gives a container the log kubectl shows for it: `current`, and `previous` for the start before its last restart. */
  setLog(namespace: string, pod: string, container: string, current: string[], previous?: string[]): void {
    this.logs.set(`${namespace}/${pod}/${container}`, { current, ...(previous ? { previous } : {}) });
  }

  /**
   * `kubectl describe pod POD -n NS`: the pod's name, namespace, phase, conditions, containers (image,
   * ready, restart count) and the events about it, in kubectl's layout.
   */
  private kDescribe(args: string[]): ToolReply {
    const p = parseArgs(args, ["-n", "--namespace"], []);
    const [resource, name, ...more] = p.positional;
    const namespace = one(p, "-n", "--namespace");
    if (KINDS[resource?.toLowerCase() ?? ""] !== "Pod" || !name || more.length > 0 || !namespace) throw new Error("kubectl describe: only one pod -n NS is understood");
    const objs = this.objects.get(namespace) ?? [];
    const o = objs.find((x) => x.kind === "Pod" && x.metadata.name === name);
    if (!o) return notFound("pods", name);
    type Status = { phase?: string; conditions?: Array<{ type: string; status: string }>; containerStatuses?: Array<{ name: string; image?: string; ready?: boolean; restartCount?: number }> };
    const status = (o.status ?? {}) as Status;
    const events = objs.filter((e) => e.kind === "Event" && (e.involvedObject as { kind?: string; name?: string } | undefined)?.name === name);
    const lines = [
      `Name:             ${name}`,
      `Namespace:        ${namespace}`,
      `Status:           ${status.phase ?? "Unknown"}`,
      "Containers:",
      ...(status.containerStatuses ?? []).flatMap((c) => [`  ${c.name}:`, `    Image:          ${c.image ?? ""}`, `    Ready:          ${c.ready ? "True" : "False"}`, `    Restart Count:  ${c.restartCount ?? 0}`]),
      "Conditions:",
      "  Type              Status",
      ...(status.conditions ?? []).map((c) => `  ${c.type.padEnd(18)}${c.status}`),
      `Events:${events.length === 0 ? "            <none>" : ""}`,
      ...(events.length === 0 ? [] : ["  Type     Reason     Age   From     Message", "  ----     ------     ----  ----     -------"]),
      ...events.map((e) => `  ${String(e.type).padEnd(9)}${String(e.reason).padEnd(11)}1m    ${String((e.source as { component?: string } | undefined)?.component ?? "").padEnd(9)}${String(e.message)}`),
    ];
    return { stdout: `${lines.join("\n")}\n` };
  }

  // -- helm ------------------------------------------------------------------------------------

  private async helmCall(call: ToolCall): Promise<ToolReply> {
    const [verb, ...rest] = call.args;
    // Every helm verb that reaches the cluster: who it runs as, checked and recorded first.
    const table: Record<string, [string[], string[]]> = {
      upgrade: [
        ["-n", "--namespace", "-f", "--values", "--set", "--set-string", "--timeout", "--kubeconfig", "--kube-apiserver", "--kube-ca-file", "--version", "-o", "--output", "--history-max", "--description"],
        ["-i", "--install", "--wait", "--atomic", "--rollback-on-failure", "--create-namespace", "--reset-values", "--reuse-values", "--debug", "--wait-for-jobs", "--kube-insecure-skip-tls-verify"],
      ],
      uninstall: [["-n", "--namespace", "--timeout", "--kubeconfig"], ["--ignore-not-found", "--wait"]],
      list: [["-n", "--namespace", "-o", "--output", "-f", "--filter", "--kubeconfig"], ["-A", "--all-namespaces", "-a", "--all", "-q", "--short", "--pending"]],
      status: [["-n", "--namespace", "-o", "--output", "--kubeconfig"], []],
      history: [["-n", "--namespace", "--max", "-o", "--output", "--kubeconfig"], []],
      rollback: [["-n", "--namespace", "--timeout", "--kubeconfig"], ["--wait"]],
    };
    const name = verb === "ls" ? "list" : verb ?? "";
    const flags = table[name];
    if (!flags) throw new Error(`helm ${verb ?? ""}: verb not understood`);
    const p = parseArgs(rest, ...flags);
    const namespace = one(p, "-n", "--namespace");
    const auth = this.helmIdentity(call, p);
    if ("error" in auth) return { stderr: auth.error, code: 1 };
    this.helmCallers.push({ verb: name, token: auth.token ?? null, mode: auth.mode ?? null });
    if (auth.token !== undefined) {
      const who = this.tokens.get(auth.token);
      if (!who) return { stderr: "Error: Kubernetes cluster unreachable: Unauthorized\n", code: 1 };
      if (who.namespace !== namespace) {
        return { stderr: `Error: query: failed to query with labels: secrets is forbidden: User "system:serviceaccount:${who.namespace}:${who.serviceAccount}" cannot list resource "secrets" in API group "" in the namespace "${namespace ?? ""}"\n`, code: 1 };
      }
    }
    switch (name) {
      case "upgrade": return this.hUpgrade(call, rest, p);
      case "uninstall": return this.hUninstall(call, p);
      case "list": return this.hList(p);
      case "status": return this.hStatus(p);
      case "history": return this.hHistory(p);
      default: return this.hRollback(call, p);
    }
  }

  /**
   * Who a helm call runs as: the token of the kubeconfig it names (`--kubeconfig`, else KUBECONFIG),
   * and that file's permission bits, or no token (the pod's own service account). helm has no token
   * flag here: a token on the command line is what the step must never do. Stricter than helm, which
   * only warns: a kubeconfig readable by others is refused, as is one without a token for its current
   * context.
   */
  private helmIdentity(call: ToolCall, p: Parsed): { token?: string; mode?: number } | { error: string } {
    const file = one(p, "--kubeconfig") ?? call.env.KUBECONFIG;
    if (!file) return {};
    const where = path.resolve(call.cwd, file);
    if (!existsSync(where)) return { error: `Error: Kubernetes cluster unreachable: stat ${file}: no such file or directory\n` };
    const mode = statSync(where).mode & 0o777;
    if ((mode & 0o077) !== 0) return { error: `fake cluster: the kubeconfig ${file} is readable by others (mode ${mode.toString(8)}); it holds a token\n` };
    type Kubeconfig = { "current-context"?: string; contexts?: Array<{ name: string; context?: { user?: string } }>; users?: Array<{ name: string; user?: { token?: string } }> };
    const config = parseAllDocuments(readFileSync(where, "utf8"))[0]?.toJSON() as Kubeconfig | null;
    const user = config?.contexts?.find((c) => c.name === config["current-context"])?.context?.user;
    const token = config?.users?.find((u) => u.name === user)?.user?.token;
    if (!token) return { error: "Error: Kubernetes cluster unreachable: Unauthorized\n" };
    return { token, mode };
  }

    /** Adds a revision to `r` (its status becomes the release's), superseding the deployed one before it. */
  private addRevision(r: FakeRelease, earlier: ReleaseRevision[], status: ReleaseStatus, description: string): void {
    const updated = now();
    const revision = (earlier.at(-1)?.revision ?? 0) + 1;
    r.history = [
      ...earlier.map((h) => (h.status === "deployed" || h.status.startsWith("pending-") ? { ...h, status: "superseded" as const } : h)),
      { revision, status, description, updated, chart: r.chart, appVersion: r.appVersion },
    ];
    r.revision = revision;
    r.status = status;
    r.updatedAt = updated;
  }

  /**
   * Adds a release as an earlier deploy (or a killed one) left it: `history` gives its revisions,
   * oldest first; the last one's status is the release's. It is of the example chart (charts/app);
   * its objects are not modelled.
   */
  addRelease(namespace: string, name: string, history: Array<{ revision: number; status: ReleaseStatus; description?: string }>): void {
    const last = history.at(-1);
    if (!last) throw new Error("addRelease: a release has at least one revision");
    const updated = now();
    this.releases.set(`${namespace}/${name}`, {
      name, namespace, revision: last.revision, status: last.status, chart: EXAMPLE_CHART.chart, appVersion: EXAMPLE_CHART.appVersion, valueArgs: [], objects: [], updatedAt: updated,
      history: history.map((h) => ({ revision: h.revision, status: h.status, description: h.description ?? "", updated, ...EXAMPLE_CHART })),
    });
  }

  private async hUpgrade(call: ToolCall, args: string[], p: Parsed): Promise<ToolReply> {
    if (!isTrue(p, "--install") && !isTrue(p, "-i")) throw new Error("helm upgrade without --install is not understood");
    const [release, chart, ...more] = p.positional;
    if (!release || !chart || more.length > 0) throw new Error("helm upgrade: expected RELEASE CHART");
    const namespace = one(p, "-n", "--namespace");
    if (!namespace) throw new Error("helm upgrade: --namespace is required (no default namespace)");
    if (isTrue(p, "--create-namespace")) throw new Error("helm upgrade --create-namespace: the deploy step creates the namespace itself");
    const output = one(p, "-o", "--output");
    if (output !== undefined && output !== "json") throw new Error(`helm upgrade -o ${output} not understood`);
    const ns = this.namespaces.get(namespace);
    if (!ns) return { stderr: `Error: create: failed to create: namespaces "${namespace}" not found\n`, code: 1 };
    const key = `${namespace}/${release}`;
    const previous = this.releases.get(key);
    if (previous?.status.startsWith("pending-")) {
      return { stderr: "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n", code: 1 };
    }

    // The chart and values as the step passed them, rendered by the real helm.
    const valueArgs: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      for (const f of ["-f", "--values", "--set", "--set-string"]) {
        if (a === f) valueArgs.push(f, args[++i]);
        else if (a.startsWith(`${f}=`)) valueArgs.push(f, a.slice(f.length + 1));
      }
    }
    const resolvedValueArgs = valueArgs.map((v, i) => (i % 2 === 1 && (valueArgs[i - 1] === "-f" || valueArgs[i - 1] === "--values") ? path.resolve(call.cwd, v) : v));
    const chartDir = path.resolve(call.cwd, chart);
    let rendered: string;
    try {
      // helm upgrade --install leaves the chart's test hooks to `helm test`: --skip-tests renders what it installs.
      rendered = await renderChart(["template", release, chartDir, "--namespace", namespace, "--skip-tests", ...resolvedValueArgs], [chartDir, ...valueFiles(resolvedValueArgs)]);
    } catch (e) {
      const err = e as { stderr?: string };
      return { stderr: err.stderr ?? String(e), code: 1 };
    }
    const objects = parseAllDocuments(rendered).map((d) => d.toJSON() as KubeObj | null).filter((o): o is KubeObj => o !== null)
      .map((o) => ({ ...o, metadata: { ...o.metadata, namespace: o.metadata.namespace ?? namespace } }));
    const chartMeta = chartMetadata(chartDir);
    const earlier = previous ? previous.history : [];
    const next: FakeRelease = { name: release, namespace, revision: 0, status: "deployed", history: [], ...releaseChart(chartMeta), valueArgs, objects, updatedAt: now() };
    if (this.faults.helmInstallFails) {
      const message = this.faults.helmInstallFails;
      this.faults.helmInstallFails = undefined;
      this.addRevision(next, earlier, "failed", `${previous ? "Upgrade" : "Release"} "${release}" failed: ${message}`);
      this.releases.set(key, next);
      this.record({ verb: "fail", kind: "Release", namespace, name: release }, call.tool);
      this.faults.afterRelease?.(next, this);
      return { stderr: `Error: ${previous ? "UPGRADE" : "INSTALLATION"} FAILED: ${message}\n`, code: 1 };
    }
    // The release's objects replace the previous revision's in the namespace.
    const list = (this.objects.get(namespace) ?? []).filter((o) => !(previous?.objects ?? []).some((p2) => p2.kind === o.kind && p2.metadata.name === o.metadata.name));
    this.objects.set(namespace, rollOut(namespace, [...list, ...objects], previous?.objects ?? [], objects, now()));
    this.addRevision(next, earlier, "deployed", previous ? "Upgrade complete" : "Install complete");
    this.releases.set(key, next);
    this.record({ verb: previous ? "upgrade" : "install", kind: "Release", namespace, name: release }, call.tool);
    this.faults.afterRelease?.(next, this);
    if (output === "json") {
      return { stdout: `${JSON.stringify({ name: release, namespace, version: next.revision, info: { status: "deployed" }, chart: { metadata: chartMeta } })}\n` };
    }
    return {
      stdout: previous
        ? `Release "${release}" has been upgraded. Happy Helming!\nNAME: ${release}\nNAMESPACE: ${namespace}\nSTATUS: deployed\nREVISION: ${next.revision}\n`
        : `Release "${release}" does not exist. Installing it now.\nNAME: ${release}\nNAMESPACE: ${namespace}\nSTATUS: deployed\nREVISION: ${next.revision}\n`,
    };
  }

  private hUninstall(call: ToolCall, p: Parsed): ToolReply {
    const [release, ...more] = p.positional;
    const namespace = one(p, "-n", "--namespace");
    if (!release || more.length > 0 || !namespace) throw new Error("helm uninstall: expected RELEASE --namespace NS");
    if (this.faults.helmUninstallFailsIn?.has(namespace)) return failure("Error: uninstall: timed out waiting for the condition");
    const key = `${namespace}/${release}`;
    const r = this.releases.get(key);
    if (!r) {
      // helm v4 treats a missing release as uninstalled under --ignore-not-found, and says so.
      return isTrue(p, "--ignore-not-found")
        ? { stdout: `release "${release}" uninstalled\n` }
        : { stderr: `Error: uninstall: Release not loaded: ${release}: release: not found\n`, code: 1 };
    }
    const list = (this.objects.get(namespace) ?? []).filter((o) => !r.objects.some((x) => x.kind === o.kind && x.metadata.name === o.metadata.name));
    this.objects.set(namespace, rollOut(namespace, list, r.objects, [], now()));
    this.releases.delete(key);
    this.record({ verb: "uninstall", kind: "Release", namespace, name: release }, call.tool);
    return { stdout: `release "${release}" uninstalled\n` };
  }

  /** `helm rollback RELEASE REVISION -n NS`: a new revision, deployed, of an earlier one's (the objects stay as they are). */
  private hRollback(call: ToolCall, p: Parsed): ToolReply {
    const [release, target, ...more] = p.positional;
    const namespace = one(p, "-n", "--namespace");
    if (!release || !target || !/^[1-9][0-9]*$/.test(target) || more.length > 0 || !namespace) throw new Error("helm rollback: expected RELEASE REVISION --namespace NS");
    const r = this.releases.get(`${namespace}/${release}`);
    if (!r) return failure("Error: release: not found");
    const earlier = r.history;
    if (!earlier.some((h) => h.revision === Number(target))) return failure(`Error: release has no ${target} version`);
    this.addRevision(r, earlier, "deployed", `Rollback to ${target}`);
    this.record({ verb: "upgrade", kind: "Release", namespace, name: release }, call.tool);
    return { stdout: "Rollback was a success! Happy Helming!\n" };
  }

  private hList(p: Parsed): ToolReply {
    if (p.positional.length > 0) throw new Error("helm list: no positional arguments");
    const all = isTrue(p, "-A") || isTrue(p, "--all-namespaces");
    const namespace = one(p, "-n", "--namespace");
    if (!all && !namespace) throw new Error("helm list: -A or --namespace");
    const filter = one(p, "-f", "--filter");
    const pending = isTrue(p, "--pending");
    const items = [...this.releases.values()]
      .filter((r) => all || r.namespace === namespace)
      // By default helm lists deployed and failed releases; --pending the pending-* ones, -a every one.
      .filter((r) => isTrue(p, "-a") || isTrue(p, "--all") || (pending ? r.status.startsWith("pending-") : r.status === "deployed" || r.status === "failed"))
      .filter((r) => !filter || new RegExp(filter).test(r.name))
      .sort((a, b) => a.name.localeCompare(b.name));
    const output = one(p, "-o", "--output");
    if (output === "json") {
      return { stdout: `${JSON.stringify(items.map((r) => ({ name: r.name, namespace: r.namespace, revision: String(r.revision), updated: r.updatedAt, status: r.status, chart: r.chart, app_version: r.appVersion })))}\n` };
    }
    if (output !== undefined) throw new Error(`helm list -o ${output} not understood`);
    if (isTrue(p, "-q") || isTrue(p, "--short")) return { stdout: items.map((r) => `${r.name}\n`).join("") };
    return { stdout: this.table([["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION"], ...items.map((r) => [r.name, r.namespace, String(r.revision), r.updatedAt, r.status, r.chart, r.appVersion])]) };
  }

  private hHistory(p: Parsed): ToolReply {
    const [release, ...more] = p.positional;
    const namespace = one(p, "-n", "--namespace");
    if (!release || more.length > 0 || !namespace) throw new Error("helm history: expected RELEASE --namespace NS");
    const r = this.releases.get(`${namespace}/${release}`);
    if (!r) return failure("Error: release: not found");
    const history = r.history;
    const output = one(p, "-o", "--output");
    if (output === "json") {
      return { stdout: `${JSON.stringify(history.map((h) => ({ revision: h.revision, updated: h.updated, status: h.status, chart: h.chart, app_version: h.appVersion, description: h.description })))}\n` };
    }
    if (output !== undefined) throw new Error(`helm history -o ${output} not understood`);
    return { stdout: this.table([["REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION"], ...history.map((h) => [String(h.revision), h.updated, h.status, h.chart, h.appVersion, h.description])]) };
  }

  private hStatus(p: Parsed): ToolReply {
    const [release, ...more] = p.positional;
    const namespace = one(p, "-n", "--namespace");
    if (!release || more.length > 0 || !namespace) throw new Error("helm status: expected RELEASE --namespace NS");
    const r = this.releases.get(`${namespace}/${release}`);
    if (!r) return failure("Error: release: not found");
    const output = one(p, "-o", "--output");
    if (output === "json") return { stdout: `${JSON.stringify({ name: r.name, namespace: r.namespace, version: r.revision, info: { status: r.status } })}\n` };
    if (output !== undefined) throw new Error(`helm status -o ${output} not understood`);
    return { stdout: `NAME: ${r.name}\nNAMESPACE: ${r.namespace}\nSTATUS: ${r.status}\nREVISION: ${r.revision}\n` };
  }
}

