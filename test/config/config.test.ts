import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runScript } from "../helpers/cli";
import { configSchema, parseConfig } from "../../components/config";
import { hardeningEnabled } from "../../components/repository-hardening";
import { PROJECT_ROOT, readStackConfig, renderStack } from "../../scripts/offline-render";
import { problemsOf } from "../helpers/config";

const preview = () => readStackConfig("preview");
const withKey = (key: string, value: unknown) => ({ ...preview(), [`implementation-dag:${key}`]: typeof value === "string" ? value : JSON.stringify(value) });


describe("stack config", () => {
  it("accepts the preview stack and lists every key of the schema in it", () => {
    const cfg = parseConfig(preview());
    expect(cfg.namespace).toBe("argo");
    const keys = Object.keys(preview()).map((k) => k.replace(/^implementation-dag:/, ""));
    expect(keys.sort()).toEqual(Object.keys(configSchema.shape).sort());
  });

  it("names every bad key in one error, not only the first", () => {
    const flat = {
      ...preview(),
      "implementation-dag:domain": "Not A Domain",
      "implementation-dag:acceptance": JSON.stringify({ minSuccessPct: 0.95, maxP95Ms: -1 }),
      "implementation-dag:images": JSON.stringify({ deploy: "nginx:latest" }),
      "implementation-dag:deploy": JSON.stringify({ runner: "ssh", helmTimeout: "soon" }),
      "implementation-dag:nmespace": "typo",
    };
    const problems = problemsOf(flat);
    expect(problems.map((p) => p.split(":").slice(0, 2).join(":")).sort()).toEqual([
      "implementation-dag:acceptance.maxP95Ms",
      "implementation-dag:acceptance.minSuccessPct",
      "implementation-dag:deploy.helmTimeout",
      "implementation-dag:deploy.runner",
      "implementation-dag:domain",
      "implementation-dag:images.deploy",
      "implementation-dag:nmespace",
    ]);
    expect(problems.join("\n")).toContain("a value between 0 and 1 is ambiguous");
    expect(problems.join("\n")).toContain("pinned by a tag (not 'latest')");
    expect(problems.join("\n")).toContain("is not a known key");
  });

  it("requires the GitHub App ids and says where", () => {
    const flat = preview();
    delete flat["implementation-dag:github"];
    expect(problemsOf(flat)).toEqual(["implementation-dag:github: Invalid input: expected object, received undefined"]);
  });

  it("applies defaults for keys a stack leaves out", () => {
    const cfg = parseConfig({ "implementation-dag:github": withKey("x", "")["implementation-dag:github"] });
    expect(cfg.deadlines.workflowSeconds).toBe(9000);
    expect(cfg.deadlines.implementSeconds).toBe(2400);
    expect(cfg.stepResources).toEqual({ requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "2", memory: "4Gi" } });
    expect(cfg.agent.templateName).toBe("coderun-template");
    expect(cfg.deploy.helmTimeout).toBe("5m");
  });

  it("leaves hardenRepositories unset when the stack does not say, so hardening follows the repositories listed", () => {
    const github = JSON.parse(preview()["implementation-dag:github"] as string) as Record<string, unknown>;
    delete github.hardenRepositories;
    const cfg = parseConfig({ ...preview(), "implementation-dag:github": JSON.stringify(github) });
    expect(cfg.github.hardenRepositories).toBeNull();
    expect(hardeningEnabled(cfg.github)).toBe(true);
    expect(hardeningEnabled(parseConfig({ ...preview(), "implementation-dag:github": JSON.stringify({ ...github, repositories: [] }) }).github)).toBe(false);
    expect(hardeningEnabled(parseConfig(preview()).github)).toBe(false);
  });

  it("refuses hardenRepositories: true without repositories, naming the key", () => {
    const github = JSON.parse(preview()["implementation-dag:github"] as string) as Record<string, unknown>;
    expect(problemsOf({ ...preview(), "implementation-dag:github": JSON.stringify({ ...github, hardenRepositories: true, repositories: [] }) }))
      .toEqual(["implementation-dag:github.repositories: must list the repositories to harden when hardenRepositories is true"]);
  });

  it("refuses a workflow deadline below the sum of the steps' deadlines, named with every other bad key", () => {
    const flat = {
      ...preview(),
      "implementation-dag:domain": "Not A Domain",
      "implementation-dag:deadlines": JSON.stringify({ workflowSeconds: 1800 }),
      "implementation-dag:agent": JSON.stringify({ githubApps: { rex: "rex app" }, continueSession: "yes" }),
    };
    const problems = problemsOf(flat);
    expect(problems.map((p) => p.split(":").slice(0, 2).join(":")).sort()).toEqual([
      "implementation-dag:agent.continueSession",
      "implementation-dag:agent.githubApps.rex",
      "implementation-dag:deadlines.workflowSeconds",
      "implementation-dag:domain",
    ]);
    expect(problems.find((p) => p.includes("workflowSeconds"))).toBe(
      "implementation-dag:deadlines.workflowSeconds: must be at least the sum of the steps' deadlines " +
        "(setParamsSeconds + implementSeconds + clippyFormatSeconds + qaTestingSeconds + deploySeconds + acceptanceSeconds + evidenceSeconds + approveSeconds = 8520); got 1800",
    );
    // Exactly the sum is enough.
    expect(parseConfig({ ...preview(), "implementation-dag:deadlines": JSON.stringify({ workflowSeconds: 8520 }) }).deadlines.workflowSeconds).toBe(8520);
  });

  it("refuses to run the agents' child Workflows as one of the pipeline's own service accounts", () => {
    expect(problemsOf(withKey("agent", { serviceAccountName: "implementation-dag" }))).toEqual([
      "implementation-dag:agent.serviceAccountName: must not be one of the pipeline's own service accounts " +
        "(implementation-dag, implementation-dag-executor, implementation-dag-sweeper, implementation-dag-agents); empty: the agent template's own",
    ]);
    expect(parseConfig(withKey("agent", { serviceAccountName: "coder" })).agent.serviceAccountName).toBe("coder");
  });

  it("accepts images pinned by digest and refuses untagged ones", () => {
    const digest = `ghcr.io/acme/tools@sha256:${"a".repeat(64)}`;
    expect(parseConfig(withKey("images", { deploy: digest })).images.deploy).toBe(digest);
    expect(problemsOf(withKey("images", { deploy: "ghcr.io/acme/tools" }))).toEqual([
      "implementation-dag:images.deploy: must carry a tag or a digest",
    ]);
  });

  describe("acceptance settings per repository", () => {
    const acceptance = (repositories: Record<string, unknown>, global: Record<string, unknown> = {}) =>
      withKey("acceptance", { ...JSON.parse(preview()["implementation-dag:acceptance"]), ...global, repositories });

    it("keeps only the keys a repository sets, so every other one falls back to the global setting", () => {
      const cfg = parseConfig(acceptance({ "Example-Org/app": { maxP95Ms: 500, paths: { "/healthz": "200" } } }, { maxP99Ms: 900 }));
      expect(cfg.acceptance.repositories).toEqual({ "Example-Org/app": { maxP95Ms: 500, paths: { "/healthz": "200" } } });
      expect(cfg.acceptance.maxP99Ms).toBe(900);
      expect(parseConfig(preview()).acceptance.repositories).toEqual({});
    });

    it("names the repository and the key of every bad per-repository value", () => {
      expect(problemsOf(acceptance({ "Example-Org/app": { maxP95Ms: 0, judge: "p95" }, "example-org/api": { expect: "500-400" } })).sort()).toEqual([
        "implementation-dag:acceptance.repositories.Example-Org/app.judge: must be total, ttfb or server",
        "implementation-dag:acceptance.repositories.Example-Org/app.maxP95Ms: must be a positive integer of milliseconds (at most 7 digits)",
        "implementation-dag:acceptance.repositories.example-org/api.expect: must be status items NNN, Nxx, NNN-MMM (NNN <= MMM) or <NNN (above 100) separated by commas (e.g. 2xx,3xx or <500)",
      ]);
    });

    it("refuses connectTo (the cluster's) and unknown keys in a repository's entry", () => {
      expect(problemsOf(acceptance({ "example-org/app": { connectTo: "evil.example.com:443", retries: 3 } }))).toEqual([
        "implementation-dag:acceptance.repositories.example-org/app.connectTo: is not a known key\n  - implementation-dag:acceptance.repositories.example-org/app.retries: is not a known key",
      ]);
    });

    it.each([
      ["a key without an owner", "app"],
      ["an owner with a double hyphen", "a--b/app"],
      ["a repository of ..", "example-org/.."],
      ["a URL", "https://github.com/example-org/app"],
      ["a third segment", "example-org/app/x"],
    ])("refuses %s as a repository key", (_what, key) => {
      expect(problemsOf(acceptance({ [key]: { maxP95Ms: 500 } }))).toEqual([
        `implementation-dag:acceptance.repositories.${key}: must be keyed by a GitHub <owner>/<repo>`,
      ]);
    });

    it("refuses one repository listed twice under different cases", () => {
      expect(problemsOf(acceptance({ "Example-Org/App": { maxP95Ms: 500 }, "example-org/app": { maxP95Ms: 900 } }))).toEqual([
        "implementation-dag:acceptance.repositories.example-org/app: is Example-Org/App again (repositories match case-insensitively)",
      ]);
    });

    it("refuses settings over acceptance's 3-minute budget, globally or for the repository they make too slow", () => {
      expect(problemsOf(acceptance({ "Example-Org/app": { requestsPerEndpoint: 21 }, "example-org/api": { requestsPerEndpoint: 20 } }))).toEqual([
        "implementation-dag:acceptance.repositories.Example-Org/app: with the global settings: 21 requests at concurrency 4 with timeoutMs 10000 " +
          "may take 60 s after up to 120 s of readiness; acceptance must finish within 170 s (lower readyTimeoutSeconds or timeoutMs, or send fewer requests)",
      ]);
      expect(problemsOf(acceptance({}, { rate: 0.05 }))).toEqual([
        "implementation-dag:acceptance: rate 0.05 per second for 10 s schedules no request",
      ]);
      // A value that breaks its own rule is reported once, by its rule, not again as a budget.
      expect(problemsOf(acceptance({ "example-org/app": { timeoutMs: 99 } }))).toEqual([
        "implementation-dag:acceptance.repositories.example-org/app.timeoutMs: must be an integer of milliseconds from 100 to 60000",
      ]);
    });

    it("refuses a global connectTo port acceptance would refuse", () => {
      expect(problemsOf(withKey("acceptance", { connectTo: "ingress:0" }))).toEqual([
        "implementation-dag:acceptance.connectTo: must be empty or host:port (port 1-65535)",
      ]);
    });
  });

  it("stops the program with the same message, so pulumi up and the render fail alike", async () => {
    await expect(renderStack({ overrides: { domain: "bad_domain" } })).rejects.toThrow(/implementation-dag:domain: must be a lowercase DNS name/);
  });

  it("makes npm run render exit non-zero with the message and write nothing", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "render-bad-"));
    const stack = "badconfig-test";
    const { writeFileSync, rmSync } = await import("node:fs");
    const file = path.join(PROJECT_ROOT, `Pulumi.${stack}.yaml`);
    writeFileSync(file, readFileSync(path.join(PROJECT_ROOT, "Pulumi.preview.yaml"), "utf8").replace("domain: preview.example.com", "domain: NOPE").replace("runner: pod", "runner: ssh"));
    try {
      const result = await runScript("scripts/render.ts", ["--out", out, "--stack", stack]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("Invalid stack config (2 problems)");
      expect(result.stderr).toContain("implementation-dag:domain");
      expect(result.stderr).toContain("implementation-dag:deploy.runner");
      expect((await import("node:fs")).readdirSync(out)).toEqual([]);
    } finally {
      rmSync(file);
    }
  });
});
