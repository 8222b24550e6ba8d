/**
 * The step image's tools are busybox applets (Alpine): one directory of busybox links, every applet
 * busybox offers, to put first on PATH so a step runs with them instead of GNU's. Every test that
 * runs a step "under busybox" uses this one directory, so they all mean the same image.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

/** Tools the step image has as programs of their own, not as busybox applets (busybox's would shadow them). */
const NOT_BUSYBOX = new Set(["bash", "curl", "jq", "openssl"]);

let made: string | undefined;

/**
 * The directory of busybox links (one per applet busybox lists, except {@link NOT_BUSYBOX}), made
 * once per process: the links never change, so every caller can share them.
 */
export function busyboxDir(): string {
  if (made) return made;
  const busybox = ["/usr/bin/busybox", "/bin/busybox"].find((p) => existsSync(p));
  if (!busybox) throw new Error("busybox is not installed (apt-get install busybox; .ci/run installs it)");
  const dir = path.join(mkdtempSync(path.join(tmpdir(), "busybox-")), "bin");
  mkdirSync(dir);
  const applets = execFileSync(busybox, ["--list"], { encoding: "utf8" }).split("\n").filter(Boolean);
  for (const applet of applets) if (!NOT_BUSYBOX.has(applet)) symlinkSync(busybox, path.join(dir, applet));
  made = dir;
  return dir;
}
