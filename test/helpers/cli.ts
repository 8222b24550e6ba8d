/**
 * Runs one of the package's scripts as `npm run <script>` does (tsx, in a process of its own), but
 * with tsx loaded into that one node process (`node --import tsx`) instead of through tsx's CLI,
 * which starts a second node process to run it.
 */
import { execFile } from "node:child_process";
import { PROJECT_ROOT } from "../../scripts/offline-render";

/** What a run printed and its exit code. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs SCRIPT (a path from the project root, or absolute) with ARGS from the project root. */
export function runScript(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", script, ...args], { cwd: PROJECT_ROOT, env, encoding: "utf8", maxBuffer: 1 << 26 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }));
  });
}
