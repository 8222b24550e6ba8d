/**
 * Config of the image deploy installs and of the build it waits for: `deploy.imageTagPattern` and
 * `deploy.build`, and the rule that the wait and helm's timeout fit in deploy's deadline.
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../components/config";
import { problemsOf } from "../helpers/config";
import { readStackConfig } from "../../scripts/offline-render";

const preview = () => readStackConfig("preview");
const previewDeploy = () => JSON.parse(preview()["implementation-dag:deploy"]) as Record<string, unknown>;
const previewDeadlines = () => JSON.parse(preview()["implementation-dag:deadlines"]) as Record<string, number>;
const withDeploy = (deploy: Record<string, unknown>, deadlines: Record<string, number> = {}) => ({
  ...preview(),
  "implementation-dag:deploy": JSON.stringify({ ...previewDeploy(), ...deploy }),
  "implementation-dag:deadlines": JSON.stringify({ ...previewDeadlines(), ...deadlines }),
});


describe("deploy.imageTagPattern and deploy.build", () => {
  it("defaults to a tag of the commit and a check run named build, waited for up to 10 minutes", () => {
    const github = preview()["implementation-dag:github"];
    const cfg = parseConfig({ "implementation-dag:github": github });
    expect(cfg.deploy.imageTagPattern).toBe("sha-{sha12}");
    expect(cfg.deploy.build).toEqual({ kind: "check-run", name: "build", timeoutSeconds: 600, pollSeconds: 15 });
    expect(cfg.deadlines.deploySeconds).toBe(1200);
  });

  it.each([
    ["a pattern without a placeholder (one mutable tag for every commit)", "pr-latest"],
    ["an unknown placeholder", "sha-{sha8}"],
    ["a pattern starting with '-'", "-{sha}"],
    ["a slash", "team/{sha12}"],
    ["a tag longer than 128 characters", "{sha}{sha}{sha}{sha}"],
    ["a stray brace", "{sha12}}"],
  ])("refuses %s, naming the key", (_what, pattern) => {
    expect(problemsOf(withDeploy({ imageTagPattern: pattern }))).toEqual([
      "implementation-dag:deploy.imageTagPattern: must be letters, digits, '_', '.', '-' with at least one placeholder {sha}, {sha12} or {sha7}, making a valid image tag (at most 128 characters, not starting with '.' or '-')",
    ]);
  });

  it("accepts patterns made of the placeholders", () => {
    for (const pattern of ["{sha}", "{sha7}", "git-{sha7}.{sha12}", "v_{sha}"]) {
      expect(problemsOf(withDeploy({ imageTagPattern: pattern })), pattern).toEqual([]);
    }
  });

  it("refuses a wait that does not fit in deploy's deadline with helm's timeout, naming the keys", () => {
    expect(problemsOf(withDeploy({ build: { kind: "check-run", name: "build", timeoutSeconds: 900, pollSeconds: 15 } }))).toEqual([
      "implementation-dag:deploy.build.timeoutSeconds: with deploy.helmTimeout (5m) and 60 s of room needs 1260 s, more than deadlines.deploySeconds (1200): lower deploy.build.timeoutSeconds or deploy.helmTimeout, or raise deadlines.deploySeconds",
    ]);
    expect(problemsOf(withDeploy({ helmTimeout: "10m" }))).toEqual([
      "implementation-dag:deploy.build.timeoutSeconds: with deploy.helmTimeout (10m) and 60 s of room needs 1260 s, more than deadlines.deploySeconds (1200): lower deploy.build.timeoutSeconds or deploy.helmTimeout, or raise deadlines.deploySeconds",
    ]);
    // Raising deploy's deadline (and the workflow's with it) makes room.
    expect(problemsOf(withDeploy({ helmTimeout: "10m" }, { deploySeconds: 1260, workflowSeconds: 9060 }))).toEqual([]);
  });

  it("does not count the wait with kind none", () => {
    expect(problemsOf(withDeploy({ build: { kind: "none", name: "build", timeoutSeconds: 3600, pollSeconds: 15 } }))).toEqual([]);
  });

  it("refuses a bad kind, name or poll interval", () => {
    expect(problemsOf(withDeploy({ build: { kind: "workflow", name: "$(id)", timeoutSeconds: 60, pollSeconds: 90 } })).sort()).toEqual([
      "implementation-dag:deploy.build.kind: Invalid option: expected one of \"check-run\"|\"status\"|\"none\"",
      "implementation-dag:deploy.build.name: must be a check run name or status context: letters, digits, ' ', '.', '_', '/', ':', '(', ')', '+', '-', at most 100, starting with a letter or digit",
    ]);
    expect(problemsOf(withDeploy({ build: { kind: "status", name: "ci/build (linux)", timeoutSeconds: 60, pollSeconds: 90 } }))).toEqual([
      "implementation-dag:deploy.build.pollSeconds: must not exceed timeoutSeconds",
    ]);
  });
});
