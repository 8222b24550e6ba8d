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
});
