/**
 * Deploy's recovery from stuck states and its record on the PR, run for real from the rendered
 * template with the recording stand-ins and the fake GitHub: a release a killed step left
 * pending-install, pending-upgrade or pending-rollback is rolled back to its last deployed revision
 * or uninstalled (the exact call), then upgraded, and the evidence says so; a GitHub failure while
 * recording the deployment never fails the deploy.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  clusterLines, HEAD_SHA, HEAD_TAG, HOST, newWorld, NS, OWNER, previewNamespace, RELEASE, REPO, type World, type WorldOptions,
  useDeployStep,
} from "./fixtures";

const step = useDeployStep();

async function deploy(world: World, tools: "gnu" | "busybox" = "gnu") {
  const { r, calls } = await step.run(world, { tools });
  return { r, helm: clusterLines(calls, step.guardrails, ["helm"]) };
}

const PENDING = `helm list -n ${NS} --kubeconfig <work>/kubeconfig --pending --filter ^${RELEASE}$ -o json`;
const HISTORY = `helm history ${RELEASE} -n ${NS} --kubeconfig <work>/kubeconfig -o json`;
const UPGRADE = `helm upgrade --install ${RELEASE} <work>/checkout/charts/app -n ${NS} --kubeconfig <work>/kubeconfig ` +
  `-f <work>/checkout/charts/app/values-preview.yaml --set-string image.tag=${HEAD_TAG} --set-string image.pullPolicy=IfNotPresent --set-string ingress.host=${HOST} --set-string ingress.className=nginx --wait --timeout 5m`;
const rollback = (revision: number) => `helm rollback ${RELEASE} ${revision} -n ${NS} --kubeconfig <work>/kubeconfig --timeout 5m`;
const UNINSTALL = `helm uninstall ${RELEASE} -n ${NS} --kubeconfig <work>/kubeconfig --timeout 5m`;

const cases: Array<[string, WorldOptions["pendingRelease"], string, number | null]> = [
  ["pending-install (never deployed)", { history: [{ revision: 1, status: "pending-install" }] }, UNINSTALL, null],
  ["pending-upgrade", { history: [{ revision: 1, status: "superseded" }, { revision: 2, status: "deployed" }, { revision: 3, status: "pending-upgrade" }] }, rollback(2), 2],
  ["pending-rollback (the last deployed revision superseded)", { history: [{ revision: 1, status: "superseded" }, { revision: 2, status: "superseded" }, { revision: 3, status: "pending-rollback" }] }, rollback(2), 2],
  ["pending-upgrade of a release that never deployed", { history: [{ revision: 1, status: "failed" }, { revision: 2, status: "pending-upgrade" }] }, UNINSTALL, null],
];

describe("deploy recovers a release a killed step left pending", () => {
  it.each(cases)("%s: the exact recovery call, then the upgrade, recorded in the evidence", async (_what, pending, call, revision) => {
    const world = newWorld({ namespace: previewNamespace(), pendingRelease: structuredClone(pending) });
    const { r, helm } = await deploy(world);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(helm).toEqual([PENDING, HISTORY, call, UPGRADE]);
    const recovery = JSON.parse(readFileSync(path.join(r.artifacts["deploy-evidence"], "recovery.json"), "utf8"));
    expect(recovery).toMatchObject({ release: RELEASE, found: pending!.history.at(-1)!.status, action: call === UNINSTALL ? "uninstall" : "rollback", revision });
    expect(recovery.history.map((h: { revision: number }) => h.revision)).toEqual(pending!.history.map((h) => h.revision));
    expect(r.stdout).toMatch(new RegExp(`release ${RELEASE} is ${pending!.history.at(-1)!.status}`));
    expect(r.outputs.commit).toBe(HEAD_SHA);
  });

  it("does nothing extra for a release that is not pending", async () => {
    const { r, helm } = await deploy(newWorld({ namespace: previewNamespace() }));
    expect(r.code).toBe(0);
    expect(helm).toEqual([PENDING, UPGRADE]);
    expect(r.artifacts["deploy-evidence"] && readFileSync(path.join(r.artifacts["deploy-evidence"], "helm-upgrade.log"), "utf8")).toBeTruthy();
  });

  it("recovers the same with the step image's busybox tools", async () => {
    const world = newWorld({ namespace: previewNamespace(), pendingRelease: structuredClone(cases[1][1]) });
    const { r, helm } = await deploy(world, "busybox");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(helm).toEqual([PENDING, HISTORY, rollback(2), UPGRADE]);
  });
});

describe("deploy's record on the PR", () => {
  it("a GitHub failure while recording the deployment is a warning: deploy succeeds and records no deployment id", async () => {
    step.gh.enqueue("repos/create-deployment", ...Array.from({ length: 5 }, () => ({ status: 502 })));
    const world = newWorld({ namespace: previewNamespace({ annotations: { "implementation-dag/deployment": "999" } }) });
    const before = step.gh.deployments(OWNER, REPO).length;
    const { r } = await deploy(world);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^WARNING: github: no deployment recorded for example-org\/example-app@[0-9a-f]{40} in pr-42; deploy goes on without one$/m);
    expect(step.gh.deployments(OWNER, REPO)).toHaveLength(before);
    // The older run's deployment id is not left for cleanup to update.
    expect((world.namespace!.metadata as { annotations: Record<string, string> }).annotations["implementation-dag/deployment"]).toBe("");
    expect(r.outputs.commit).toBe(HEAD_SHA);
  });

  it("a 5xx on the in_progress status is a warning; the deployment stays recorded", async () => {
    step.gh.enqueue("repos/create-deployment-status", ...Array.from({ length: 5 }, () => ({ status: 503 })));
    const world = newWorld();
    const { r } = await deploy(world);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^WARNING: github: deployment \d+: status in_progress not recorded; deploy goes on$/m);
    const id = step.gh.deployments(OWNER, REPO).at(-1)!.id;
    expect((world.namespace!.metadata as { annotations: Record<string, string> }).annotations["implementation-dag/deployment"]).toBe(String(id));
    expect(step.gh.violations).toEqual([]);
  });
});
