/**
 * The preview-evidence step, run for real from the rendered template (bash, jq) against a recording
 * kubectl stand-in answered by the fake cluster (simulator/cluster.ts): the exact files it writes,
 * the exact reads it makes, and its refusal of bad env before any read.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { WorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { asArgoModel } from "../helpers/argo-schema";
import { runScriptTemplate, type StepResult } from "../../simulator/argo-step";
import { busyboxDir } from "../helpers/busybox";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";
import { FakeCluster } from "../../simulator/cluster";
import { startStandIns, type StandIns } from "../../simulator/stand-ins";
import { previewNamespace } from "../helpers/cluster-objects";

const NS = "impl-pr-42";
const RS = "example-app-pr-42-7d9f8c6b5d";
const DIGEST = `sha256:${"ab".repeat(32)}`;
const INIT_DIGEST = `sha256:${"cd".repeat(32)}`;

/** Two pods as `kubectl get pods -o json` lists them: one running (restarted twice), one that cannot pull. */
const PODS = {
  apiVersion: "v1",
  kind: "List",
  metadata: { resourceVersion: "" },
  items: [
    {
      apiVersion: "v1", kind: "Pod",
      metadata: { name: `${RS}-x2k9q`, namespace: NS },
      spec: {
        initContainers: [{ name: "migrate", image: "ghcr.io/example-org/example-app:sha-0123456789ab" }],
        containers: [{ name: "app", image: "ghcr.io/example-org/example-app:sha-0123456789ab" }],
      },
      status: {
        phase: "Running",
        initContainerStatuses: [{
          name: "migrate", image: "ghcr.io/example-org/example-app:sha-0123456789ab", imageID: `ghcr.io/example-org/example-app@${INIT_DIGEST}`,
          ready: true, restartCount: 0, state: { terminated: { exitCode: 0, reason: "Completed", finishedAt: "2026-11-30T04:00:05Z" } }, lastState: {},
        }],
        containerStatuses: [{
          name: "app", image: "ghcr.io/example-org/example-app:sha-0123456789ab", imageID: `ghcr.io/example-org/example-app@${DIGEST}`,
          ready: true, restartCount: 2, started: true, state: { running: { startedAt: "2026-11-30T04:01:00Z" } },
          lastState: { terminated: { exitCode: 137, reason: "OOMKilled", startedAt: "2026-11-30T04:00:10Z", finishedAt: "2026-11-30T04:00:59Z" } },
        }],
      },
    },
    {
      apiVersion: "v1", kind: "Pod",
      metadata: { name: `${RS}-p7w2m`, namespace: NS },
      spec: { containers: [{ name: "app", image: "ghcr.io/example-org/example-app:sha-0123456789ab" }] },
      status: {
        phase: "Pending",
        containerStatuses: [{
          name: "app", image: "ghcr.io/example-org/example-app:sha-0123456789ab", imageID: "", ready: false, restartCount: 0, started: false,
          state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } }, lastState: {},
        }],
      },
    },
  ],
};

/** Events as `kubectl get events -o json` lists them, out of order; one written by events.k8s.io (eventTime only). */
const EVENTS = {
  apiVersion: "v1", kind: "List", metadata: { resourceVersion: "" },
  items: [
    {
      metadata: { name: "e2", creationTimestamp: "2026-11-30T04:00:59Z" }, type: "Warning", reason: "BackOff",
      involvedObject: { kind: "Pod", name: `${RS}-x2k9q` }, message: "Back-off restarting failed container app", count: 2,
      firstTimestamp: "2026-11-30T04:00:30Z", lastTimestamp: "2026-11-30T04:00:59Z",
    },
    {
      metadata: { name: "e1", creationTimestamp: "2026-11-30T04:00:01Z" }, type: "Normal", reason: "Scheduled",
      involvedObject: { kind: "Pod", name: `${RS}-x2k9q` }, message: `Successfully assigned ${NS}/${RS}-x2k9q to node-1`,
      firstTimestamp: null, lastTimestamp: null, eventTime: "2026-11-30T04:00:01.000000Z",
    },
  ],
};

const LOG = "listening on :8080\nGET / 200\n";
const PREVIOUS_LOG = "listening on :8080\nfatal: out of memory\n";

/**
 * The fake cluster behind kubectl, holding the preview namespace with `pods` (PODS by default), the
 * events and the containers' logs.
 */
function clusterWith(options: { pods?: typeof PODS.items } = {}): FakeCluster {
  const cluster = new FakeCluster([previewNamespace(NS)]);
  cluster.adopt(...structuredClone(options.pods ?? PODS.items), ...EVENTS.items.map((e) => ({ apiVersion: "v1", kind: "Event", ...structuredClone(e), metadata: { ...e.metadata, namespace: NS } })));
  cluster.setLog(NS, `${RS}-x2k9q`, "app", lines(LOG), lines(PREVIOUS_LOG));
  cluster.setLog(NS, `${RS}-x2k9q`, "migrate", ["migrations applied"]);
  return cluster;
}

/** The lines of a log. */
const lines = (log: string): string[] => log.replace(/\n$/, "").split("\n");

let template: ITemplate;
beforeAll(async () => {
  template = templateNamed(implementationDag(await previewRender()), "preview-evidence");
});

let kube: StandIns | undefined;
afterEach(async () => {
  await kube?.close();
  kube = undefined;
});

async function evidence(options: { parameters?: Record<string, string>; env?: Record<string, string>; cluster?: FakeCluster; busybox?: boolean } = {}): Promise<StepResult> {
  kube = await startStandIns(["kubectl"], (options.cluster ?? clusterWith()).handle);
  const busybox = options.busybox ? [busyboxDir()] : [];
  return runScriptTemplate(template, {
    parameters: { pr: "42", ns: NS, ...options.parameters },
    pathPrepend: [kube.dir, ...busybox],
    standInEnv: { ...kube.env, ...options.env },
  });
}

const files = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.relative(dir, path.join(d.parentPath, d.name))).sort();

describe("preview-evidence", () => {
  it("renders a schema-valid template: the PR and namespace from set-params, the log bounds from config, one output artifact", () => {
    expect(() => new WorkflowTemplate({
      metadata: { name: "t" }, spec: { templates: asArgoModel([template]) },
    }).validate()).not.toThrow();
    const env = Object.fromEntries((template.script?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ PR: "{{inputs.parameters.pr}}", NS: "{{inputs.parameters.ns}}", LOG_LINES: "200", LOG_BYTES: "262144" });
    expect(template.script?.source).not.toContain("{{");
    expect(template.outputs?.artifacts?.map((a) => [a.name, a.path, a.s3?.key])).toEqual([
      ["preview-evidence", "/tmp/outputs/preview-evidence",
        "implementation-dag/{{workflow.parameters.owner}}/{{workflow.parameters.repo}}/pr-{{workflow.parameters.pr}}/{{workflow.name}}/preview-evidence/preview-evidence.tgz"],
    ]);
  });

  for (const busybox of [false, true]) {
    it(`writes the pods' digests and restarts, the events and the last log lines (${busybox ? "busybox" : "GNU"} tools)`, async () => {
      const r = await evidence({ busybox });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const dir = r.artifacts["preview-evidence"];
      expect(files(dir)).toEqual([
        "events.json",
        `logs/${RS}-p7w2m/app.error.txt`,
        `logs/${RS}-p7w2m/app.log`,
        `logs/${RS}-x2k9q/app.log`,
        `logs/${RS}-x2k9q/app.previous.log`,
        `logs/${RS}-x2k9q/migrate.log`,
        "pods.json",
      ]);
      const image = "ghcr.io/example-org/example-app:sha-0123456789ab";
      expect(JSON.parse(readFileSync(path.join(dir, "pods.json"), "utf8"))).toEqual([
        {
          pod: `${RS}-p7w2m`, phase: "Pending", container: "app", init: false, image, imageID: "", digest: "",
          ready: false, restartCount: 0, state: "waiting", waitingReason: "ImagePullBackOff", lastTermination: null,
        },
        {
          pod: `${RS}-x2k9q`, phase: "Running", container: "migrate", init: true, image, imageID: `ghcr.io/example-org/example-app@${INIT_DIGEST}`,
          digest: INIT_DIGEST, ready: true, restartCount: 0, state: "terminated", waitingReason: "", lastTermination: null,
        },
        {
          pod: `${RS}-x2k9q`, phase: "Running", container: "app", init: false, image, imageID: `ghcr.io/example-org/example-app@${DIGEST}`,
          digest: DIGEST, ready: true, restartCount: 2, state: "running", waitingReason: "",
          lastTermination: { reason: "OOMKilled", exitCode: 137, finishedAt: "2026-11-30T04:00:59Z" },
        },
      ]);
      expect(JSON.parse(readFileSync(path.join(dir, "events.json"), "utf8"))).toEqual([
        { lastSeen: "2026-11-30T04:00:01.000000Z", type: "Normal", reason: "Scheduled", object: `Pod/${RS}-x2k9q`, count: 1, message: `Successfully assigned ${NS}/${RS}-x2k9q to node-1` },
        { lastSeen: "2026-11-30T04:00:59Z", type: "Warning", reason: "BackOff", object: `Pod/${RS}-x2k9q`, count: 2, message: "Back-off restarting failed container app" },
      ]);
      expect(readFileSync(path.join(dir, `logs/${RS}-x2k9q/app.log`), "utf8")).toBe(LOG);
      expect(readFileSync(path.join(dir, `logs/${RS}-x2k9q/app.previous.log`), "utf8")).toBe(PREVIOUS_LOG);
      expect(readFileSync(path.join(dir, `logs/${RS}-x2k9q/migrate.log`), "utf8")).toBe("migrations applied\n");
      expect(readFileSync(path.join(dir, `logs/${RS}-p7w2m/app.error.txt`), "utf8")).toBe(
        `kubectl logs ${RS}-p7w2m -c app failed:\nError from server (BadRequest): container "app" in pod "${RS}-p7w2m" is waiting to start: trying and failing to pull image\n`);
      // Read only, in the preview namespace only, each log bounded in lines and bytes.
      expect(kube!.lines()).toEqual([
        `kubectl get pods -n ${NS} -o json`,
        `kubectl get events -n ${NS} -o json`,
        `kubectl logs ${RS}-p7w2m -n ${NS} -c app --tail=200 --limit-bytes=262144`,
        `kubectl logs ${RS}-x2k9q -n ${NS} -c migrate --tail=200 --limit-bytes=262144`,
        `kubectl logs ${RS}-x2k9q -n ${NS} -c app --tail=200 --limit-bytes=262144`,
        `kubectl logs ${RS}-x2k9q -n ${NS} -c app --tail=200 --limit-bytes=262144 --previous`,
      ]);
      expect(r.stdout).toBe(`preview-evidence: ${NS}: 3 containers in 2 pods, 2 restarts, 2 events; logs of 3 containers (1 unreadable) in ${path.join(r.root, "outputs/preview-evidence")}\n`);
    });
  }

  it("lists a container whose pod name is not a Kubernetes name, and never makes that name a path", async () => {
    const hostile = structuredClone(PODS);
    hostile.items[1].metadata.name = "../../../escape";
    const r = await evidence({ cluster: clusterWith({ pods: hostile.items }) });
    expect(r.code).toBe(0);
    const dir = r.artifacts["preview-evidence"];
    expect(JSON.parse(readFileSync(path.join(dir, "pods.json"), "utf8")).map((c: { pod: string }) => c.pod)).toEqual(["../../../escape", `${RS}-x2k9q`, `${RS}-x2k9q`]);
    expect(files(dir).filter((f) => f.startsWith("logs/"))).toEqual([`logs/${RS}-x2k9q/app.log`, `logs/${RS}-x2k9q/app.previous.log`, `logs/${RS}-x2k9q/migrate.log`]);
    expect(kube!.lines().filter((l) => l.includes("escape"))).toEqual([]);
    expect(r.stderr).toBe("preview-evidence: 1 containers have a pod or container name that is not a Kubernetes name: listed in pods.json, no log file\n");
  });

  it("fails naming the pods when the API server refuses the list", async () => {
    const cluster = clusterWith();
    cluster.faults.forbidden = { user: "system:serviceaccount:argo:implementation-dag-steps", denies: (read) => read.verb === "list" && read.resource === "pods" };
    const r = await evidence({ cluster });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`ERROR: pods: cannot list the pods of ${NS}\\n$`));
    expect(existsSync(path.join(r.root, "outputs/preview-evidence/pods.json"))).toBe(false);
  });

  it("refuses bad env, naming every bad input and its rule, before reading anything", async () => {
    const r = await evidence({ parameters: { pr: "042", ns: "kube-system" }, env: { LOG_LINES: "0", LOG_BYTES: "1e9" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe([
      "ERROR: pr: must be a positive integer without a leading zero, at most 9 digits",
      "ERROR: ns: must be the preview namespace of PR 042 (impl-pr-042, or impl-<owner>-<repo>-<hash>-pr-042)",
      "ERROR: LOG_LINES: must be an integer from 1 to 10000",
      "ERROR: LOG_BYTES: must be an integer from 1024 to 16777216",
      "",
    ].join("\n"));
    expect(kube!.calls).toEqual([]);
    expect(existsSync(path.join(r.root, "outputs/preview-evidence"))).toBe(false);
  });

  it("refuses a namespace of another PR, and log bounds out of range", async () => {
    const r = await evidence({ parameters: { ns: "impl-pr-43" }, env: { LOG_LINES: "10001", LOG_BYTES: "1023" } });
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter(Boolean).map((l) => l.split(":")[1].trim())).toEqual(["ns", "LOG_LINES", "LOG_BYTES"]);
    expect(kube!.calls).toEqual([]);
  });
});
