/**
 * The fake cluster (simulator/cluster.ts) answered directly, without a step: where its answers follow
 * the real helm and kubectl, and where it refuses what it does not understand.
 */
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { FakeCluster } from "../../simulator/cluster";
import type { ToolCall } from "../../simulator/stand-ins";
import { previewNamespace } from "../helpers/cluster-objects";

const NS = "impl-pr-42";
const call = (tool: string, ...args: string[]): ToolCall => ({ tool, args, stdin: "", cwd: tmpdir(), env: {} });

describe("the fake cluster", () => {
  it("answers helm uninstall --ignore-not-found of a missing release as helm v4 does, and fails without the flag", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    expect(await cluster.handle(call("helm", "uninstall", "app-pr-42", "--namespace", NS, "--ignore-not-found", "--timeout", "5m")))
      .toEqual({ stdout: 'release "app-pr-42" uninstalled\n' });
    expect(await cluster.handle(call("helm", "uninstall", "app-pr-42", "--namespace", NS)))
      .toEqual({ stderr: "Error: uninstall: Release not loaded: app-pr-42: release: not found\n", code: 1 });
  });

  it("refuses a set-based label selector loudly instead of guessing, and lists the call", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    const r = await cluster.handle(call("kubectl", "get", "namespaces", "-l", "preview in (true)", "-o", "json"));
    expect(r.code).toBe(97);
    expect(cluster.unknown).toEqual(["kubectl get namespaces -l preview in (true) -o json  (label selector preview in (true) not understood)"]);
  });

  it("refuses an upgrade of a release left pending, lists it as pending, and rolls it back to a new deployed revision", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    cluster.addRelease(NS, "app-pr-42", [{ revision: 1, status: "deployed" }, { revision: 2, status: "pending-upgrade" }]);
    expect(await cluster.handle(call("helm", "upgrade", "--install", "app-pr-42", "charts/app", "-n", NS)))
      .toEqual({ stderr: "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n", code: 1 });
    const pending = await cluster.handle(call("helm", "list", "-n", NS, "--pending", "-o", "json"));
    expect((JSON.parse(pending.stdout ?? "") as Array<{ name: string; status: string }>).map((r) => [r.name, r.status])).toEqual([["app-pr-42", "pending-upgrade"]]);
    expect(await cluster.handle(call("helm", "rollback", "app-pr-42", "1", "-n", NS, "--timeout", "5m"))).toEqual({ stdout: "Rollback was a success! Happy Helming!\n" });
    const history = JSON.parse((await cluster.handle(call("helm", "history", "app-pr-42", "-n", NS, "-o", "json"))).stdout ?? "") as Array<{ revision: number; status: string; description: string }>;
    expect(history.map((h) => [h.revision, h.status])).toEqual([[1, "superseded"], [2, "superseded"], [3, "deployed"]]);
    expect(history[2].description).toBe("Rollback to 1");
    expect(await cluster.handle(call("helm", "list", "-n", NS, "--pending", "-o", "json"))).toEqual({ stdout: "[]\n" });
  });

  it("has a previous log only for a container that restarted, as kubectl answers", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    const pod = (name: string, restartCount: number) => ({
      apiVersion: "v1", kind: "Pod", metadata: { name, namespace: NS },
      status: { phase: "Running", containerStatuses: [{ name: "app", image: "nginx:1", restartCount }] },
    });
    cluster.adopt(pod("fresh", 0), pod("crashing", 2));
    cluster.setLog(NS, "crashing", "app", ["second start"], ["first start failed"]);
    expect(await cluster.handle(call("kubectl", "logs", "fresh", "-n", NS, "--all-containers", "--prefix", "--previous")))
      .toEqual({ stderr: 'Error from server (BadRequest): previous terminated container "app" in pod "fresh" not found\n', code: 1 });
    expect(await cluster.handle(call("kubectl", "logs", "crashing", "-n", NS, "--all-containers", "--prefix", "--previous", "--tail=200")))
      .toEqual({ stdout: "[pod/crashing/app] first start failed\n" });
    expect(await cluster.handle(call("kubectl", "logs", "fresh", "-n", NS, "-c", "app"))).toEqual({ stdout: "app: started nginx:1\n" });
  });
});
