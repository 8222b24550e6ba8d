import { beforeAll, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import {
  IMAGE_TAG, IMAGE_TAG_PATTERN, imageTagForCommit, PREVIEW_NAMESPACE_PATTERN, previewHost, previewMutex, previewNamespace, releaseName, repositoryKey, serviceId,
} from "../components/names";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { PROJECT_ROOT } from "../scripts/offline-render";
import { runScriptTemplate } from "../simulator/argo-step";
import { busyboxDir } from "./helpers/busybox";
import { implementationDag, previewRender, templateNamed } from "./helpers/render";

/** One table for both implementations of the naming rules: TypeScript and set-params.sh (lib/names.sh). */
const CASES: Array<{ owner: string; repo: string; pr: string; domain: string; tag: string; release: string; ns: string }> = [
  { owner: "o", repo: "app", pr: "1", domain: "preview.example.com", tag: "", release: "app-pr-1", ns: "impl-o-app-460c5931ed-pr-1" },
  { owner: "Example-Org", repo: "My_App.js", pr: "42", domain: "p.example.org", tag: "v1", release: "my-app-js-pr-42", ns: "impl-example-org-my-app-js-27302515be-pr-42" },
  { owner: "o", repo: "-._lead", pr: "7", domain: "a.b", tag: "", release: "lead-pr-7", ns: "impl-o----lead-13cc117e5f-pr-7" },
  { owner: "o", repo: "trail.", pr: "7", domain: "a.b", tag: "", release: "trail-pr-7", ns: "impl-o-trail-943ee45083-pr-7" },
  { owner: "o", repo: "___", pr: "9", domain: "a.b", tag: "", release: "app-pr-9", ns: "impl-o-eb6aca0bcb-pr-9" },
  { owner: "o", repo: "x".repeat(100), pr: "999999999", domain: "a.b", tag: "", release: `${"x".repeat(40)}-pr-999999999`, ns: `impl-o-${"x".repeat(32)}-b2f95e7964-pr-999999999` },
  { owner: "o", repo: `${"y".repeat(46)}-zz`, pr: "12", domain: "a.b", tag: "", release: `${"y".repeat(46)}-pr-12`, ns: `impl-o-${"y".repeat(39)}-132dd672e7-pr-12` },
  { owner: "o", repo: "UPPER", pr: "300", domain: "a.b", tag: "sha-abc", release: "upper-pr-300", ns: "impl-o-upper-b7348c3401-pr-300" },
  // The service id is cut at 63, where this name has a '-' to trim.
  { owner: "o", repo: `${"z".repeat(62)}-q`, pr: "5", domain: "a.b", tag: "", release: `${"z".repeat(48)}-pr-5`, ns: `impl-o-${"z".repeat(40)}-98b54289ab-pr-5` },
  // Two repositories' PR 5, and two whose slugs are the same: the hash keeps them apart.
  { owner: "example-org", repo: "app-a", pr: "5", domain: "a.b", tag: "", release: "app-a-pr-5", ns: "impl-example-org-app-a-17200452b9-pr-5" },
  { owner: "example-org", repo: "app-b", pr: "5", domain: "a.b", tag: "", release: "app-b-pr-5", ns: "impl-example-org-app-b-6b71676ff6-pr-5" },
  { owner: "a-b", repo: "c", pr: "5", domain: "a.b", tag: "", release: "c-pr-5", ns: "impl-a-b-c-4e84717d75-pr-5" },
  { owner: "a", repo: "b-c", pr: "5", domain: "a.b", tag: "", release: "b-c-pr-5", ns: "impl-a-b-c-b88f83c840-pr-5" },
];

let setParams: ITemplate;
/** The workflow parameters' defaults, as a submission that sets none of them gets. */
let defaults: Record<string, string>;
beforeAll(async () => {
  const wt = implementationDag(await previewRender());
  setParams = templateNamed(wt, "set-params");
  defaults = Object.fromEntries((wt.spec.arguments?.parameters ?? []).flatMap((p) => (p.value === undefined ? [] : [[p.name, String(p.value)]])));
});

describe("naming rules", () => {
  it.each(CASES)("TypeScript and set-params.sh agree for $owner/$repo, pr $pr", async (c) => {
    expect(releaseName(c.repo, c.pr)).toBe(c.release);
    expect(releaseName(c.repo, c.pr).length).toBeLessThanOrEqual(53);
    expect(releaseName(c.repo, c.pr)).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
    const ns = previewNamespace("repository", c.owner, c.repo, c.pr);
    expect(ns).toBe(c.ns);
    expect(ns.length).toBeLessThanOrEqual(63);
    expect(ns).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
    expect(ns).toMatch(new RegExp(PREVIEW_NAMESPACE_PATTERN));
    const r = await runScriptTemplate(setParams, {
      parameters: { ...defaults, owner: c.owner, repo: c.repo, pr: c.pr, domain: c.domain, imageTag: c.tag },
    });
    expect(r.stderr).toBe("");
    expect(r.outputs).toMatchObject({
      ns,
      release: releaseName(c.repo, c.pr),
      host: previewHost("repository", c.owner, c.repo, c.pr, c.domain),
      mutex: previewMutex("repository", c.owner, c.repo, c.pr),
      repository: repositoryKey(c.owner, c.repo),
      image_tag: c.tag,
      "service-id": serviceId(c.repo),
    });
    expect(r.outputs.host).toBe(`${ns.slice("impl-".length)}.${c.domain}`);
    expect(r.outputs.mutex).toBe(`implementation-dag-${ns.slice("impl-".length)}`);
    expect(serviceId(c.repo)).toMatch(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
  });

  it("derives the same names with the step image's busybox tools", async () => {
    const tools = busyboxDir();
    for (const c of CASES) {
      const r = await runScriptTemplate(setParams, {
        parameters: { ...defaults, owner: c.owner, repo: c.repo, pr: c.pr, domain: c.domain, imageTag: c.tag },
        pathPrepend: [tools],
      });
      expect(r.stderr).toBe("");
      expect([r.outputs.ns, r.outputs.repository]).toEqual([c.ns, repositoryKey(c.owner, c.repo)]);
    }
  });

  it("names the previews of several repositories in one shell as names.ts does, hashing each repository once", () => {
    // A sweep names every preview it lists in one shell: the table twice over, and again in upper case.
    const rows = [...CASES, ...[...CASES].reverse(), ...CASES.map((c) => ({ ...c, owner: c.owner.toUpperCase(), repo: c.repo.toUpperCase() }))];
    const dir = mkdtempSync(path.join(tmpdir(), "names-"));
    const log = path.join(dir, "sha256sum.log");
    // A sha256sum that records each call, then runs the real one.
    writeFileSync(path.join(dir, "sha256sum"), `#!/usr/bin/env bash\necho call >>"${log}"\nexec /usr/bin/sha256sum "$@"\n`, { mode: 0o755 });
    const shell = execFileSync("bash", ["-c", 'set -euo pipefail; source "$1"; shift; while (($#)); do set_preview_id repository "$1" "$2" "$3"; printf "impl-%s\\n" "$PREVIEW_ID"; shift 3; done',
      "-", path.join(PROJECT_ROOT, "components", "steps", "lib", "names.sh"), ...rows.flatMap((c) => [c.owner, c.repo, c.pr])],
    { encoding: "utf8", env: { PATH: `${dir}:${process.env.PATH}` } });
    expect(shell.split("\n").slice(0, -1)).toEqual(rows.map((c) => previewNamespace("repository", c.owner, c.repo, c.pr)));
    const repositories = new Set(CASES.map((c) => repositoryKey(c.owner, c.repo)));
    expect(readFileSync(log, "utf8").split("\n").filter(Boolean).length).toBe(repositories.size);
  });

  it("names a preview the same whatever the case of owner and repository", () => {
    expect(previewNamespace("repository", "Example-Org", "App-A", "5")).toBe(previewNamespace("repository", "example-org", "app-a", "5"));
  });

  it.each(CASES.slice(0, 3))("keeps the pr-number names of a single-repository install by config: $repo, pr $pr", async (c) => {
    expect(previewNamespace("pr-number", c.owner, c.repo, c.pr)).toBe(`impl-pr-${c.pr}`);
    expect(previewNamespace("pr-number", c.owner, c.repo, c.pr)).toMatch(new RegExp(PREVIEW_NAMESPACE_PATTERN));
    const r = await runScriptTemplate(
      { ...setParams, script: { ...setParams.script!, env: setParams.script!.env!.map((e) => (e.name === "NAMING" ? { ...e, value: "pr-number" } : e)) } },
      { parameters: { ...defaults, owner: c.owner, repo: c.repo, pr: c.pr, domain: c.domain, imageTag: c.tag } },
    );
    expect(r.stderr).toBe("");
    expect(r.outputs).toMatchObject({
      ns: `impl-pr-${c.pr}`, host: `pr-${c.pr}.${c.domain}`, mutex: `implementation-dag-pr-${c.pr}`,
      release: releaseName(c.repo, c.pr), repository: repositoryKey(c.owner, c.repo),
    });
  });
});

/** One table for both implementations of the image tag of a commit: names.ts and lib/image.sh. */
const SHA = "0123456789abcdef0123456789abcdef01234567";
const TAG_CASES: Array<{ pattern: string; tag: string | null }> = [
  { pattern: "sha-{sha12}", tag: "sha-0123456789ab" },
  { pattern: "{sha}", tag: SHA },
  { pattern: "git-{sha7}.{sha12}_{sha}", tag: `git-0123456.0123456789ab_${SHA}` },
  { pattern: "{sha7}-{sha7}", tag: "0123456-0123456" },
  { pattern: "pr-42", tag: null },
  { pattern: "", tag: null },
  { pattern: "sha-{sha8}", tag: null },
  { pattern: "-{sha}", tag: null },
  { pattern: ".{sha}", tag: null },
  { pattern: "a/{sha}", tag: null },
  { pattern: "{sha}{sha}{sha}{sha}", tag: null },
  { pattern: "{SHA}", tag: null },
];

describe("image tag of a commit", () => {
  it.each(TAG_CASES)("TypeScript and lib/image.sh agree on $pattern", ({ pattern, tag }) => {
    const valid = IMAGE_TAG_PATTERN.test(pattern) && IMAGE_TAG.test(imageTagForCommit(pattern, "0".repeat(40)));
    expect(valid ? imageTagForCommit(pattern, SHA) : null).toBe(tag);
    const shell = execFileSync("bash", ["-c", 'set -euo pipefail; source "$1"; if is_image_tag_pattern "$2"; then image_tag_for_commit "$2" "$3"; else printf "<invalid>"; fi',
      "-", path.join(PROJECT_ROOT, "components", "steps", "lib", "image.sh"), pattern, SHA], { encoding: "utf8" });
    expect(shell).toBe(tag ?? "<invalid>");
  });
});
