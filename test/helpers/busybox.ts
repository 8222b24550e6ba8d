/**
 * The step image's tools are busybox applets (Alpine): a directory of busybox links to put first on
 * PATH, so a step runs with them instead of GNU's.
 */
import { mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

/** Where Debian's busybox lives (`.ci/run` installs it). */
export const BUSYBOX = "/usr/bin/busybox";

/** A fresh directory holding a busybox link for each applet. */
export function busyboxApplets(applets: string[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), "busybox-"));
  for (const applet of applets) symlinkSync(BUSYBOX, path.join(dir, applet));
  return dir;
}
