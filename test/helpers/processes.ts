import { spawn } from "node:child_process";

/** A process that is alive until `stop` is called, for locks held (or files written) by "another process". */
export function otherProcess(): { pid: number; stop: () => Promise<void> } {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  const exited = new Promise<void>((done) => child.on("exit", () => done()));
  return {
    pid: child.pid!,
    stop: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}
