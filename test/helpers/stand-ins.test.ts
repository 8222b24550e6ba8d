import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { startStandIns, type StandIns } from "../../simulator/stand-ins";

let standIns: StandIns | undefined;
afterAll(() => standIns?.close());

describe("stand-ins", () => {
  it("record each call with its stdin and replay the handler's answer", async () => {
    standIns = await startStandIns(["kubectl"], (call) =>
      call.args[0] === "get" ? { stdout: "ns-json\n" } : { stderr: "nope\n", code: 3 });
    const env = { ...process.env, ...standIns.env, PATH: `${standIns.dir}:${process.env.PATH}` };
    const script = 'kubectl get ns x; echo piped | kubectl apply -f - || echo "exit=$?"';
    // Asynchronous: the stand-ins' server lives in this process and must keep answering.
    const { stdout: out } = await promisify(execFile)("bash", ["-c", script], { env, encoding: "utf8" });
    expect(out).toBe("ns-json\nexit=3\n");
    expect(standIns.lines()).toEqual(["kubectl get ns x", "kubectl apply -f -"]);
    expect(standIns.calls[1].stdin).toBe("piped\n");
  });

  it("carry arguments, cwd, env and both answers byte for byte, UTF-8 and line ends included", async () => {
    standIns = await startStandIns(["helm"], (call) => ({
      stdout: `${call.args.join("|")}|${call.env.MARK}|no newline at the end: ñ`,
      stderr: "warn: é€\n\nsecond line",
      code: call.stdin === "" ? 4 : 5,
    }));
    const env = { ...process.env, ...standIns.env, MARK: "a=b c", PATH: `${standIns.dir}:${process.env.PATH}` };
    // stdin is there but not read: no "-" argument.
    const script = `cd /tmp && echo unread | helm template 'two words' $'line\nbreak' 'ünï' ''; echo "[exit=$?]"`;
    const { stdout, stderr } = await promisify(execFile)("bash", ["-c", script], { env, encoding: "utf8" });
    expect(stdout).toBe("template|two words|line\nbreak|ünï||a=b c|no newline at the end: ñ[exit=4]\n");
    expect(stderr).toBe("warn: é€\n\nsecond line");
    expect(standIns.calls.at(-1)).toMatchObject({ tool: "helm", args: ["template", "two words", "line\nbreak", "ünï", ""], cwd: "/tmp", stdin: "" });
  });

  it("carry a large answer whole (some 250 kB of UTF-8, trailing newlines kept)", async () => {
    const big = `${"{\"name\": \"impl-pr-1\", \"note\": \"ünï €\"}\n".repeat(6000)}\n\n`;
    standIns = await startStandIns(["kubectl"], () => ({ stdout: big }));
    const env = { ...process.env, ...standIns.env, PATH: `${standIns.dir}:${process.env.PATH}` };
    const { stdout } = await promisify(execFile)("bash", ["-c", "kubectl get namespaces -o json"], { env, encoding: "utf8", maxBuffer: 1 << 24 });
    expect(stdout).toBe(big);
  });
});
