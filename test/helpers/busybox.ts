/**
 * The step image's tools are busybox applets (Alpine): a directory of busybox links to put first on
 * PATH, so a step runs with them instead of GNU's.
 */
import { existsSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

/** A fresh directory holding a busybox link for each applet. */
export function busyboxDir(applets: string[]): string {
  const busybox = ["/usr/bin/busybox", "/bin/busybox"].find((p) => existsSync(p));
  if (!busybox) throw new Error("busybox is not installed (apt-get install busybox; .ci/run installs it)");
  const dir = mkdtempSync(path.join(tmpdir(), "busybox-"));
  for (const applet of applets) symlinkSync(busybox, path.join(dir, applet));
  return dir;
}
