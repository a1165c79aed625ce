// The set-up shared by the benchmarks that need real devices (app-fanout, file-push, create-overhead): the test
// device image, one control plane and one agent on this host (host networking, the real adb server), and waiting
// for devices to reach a state.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, repoRoot, sleep, spawnNode, startControlPlane, stopProc, tempDir } from "./lib.mjs";

export const TEST_DEVICE_IMAGE = "cloudphone/test-device:dev";

/**
 * Builds the test device image (cached by its build script), starts a control plane with `cpEnv` and one enrolled
 * agent, and resolves once the control plane sees the host online. `stop()` ends the agent, then the control plane.
 */
export async function startPlatform(cpEnv = {}) {
  execFileSync("bash", [join(repoRoot, "test/device-image/build.sh")], { stdio: "ignore" });
  const cp = await startControlPlane(cpEnv);
  try {
    return await startAgentOn(cp);
  } catch (e) {
    await cp.stop(); // an agent that never came up must not leave the control plane running
    throw e;
  }
}

async function startAgentOn(cp) {
  const { token } = await cp.call("POST", "/api/enrollment-tokens", {});
  const agentDir = tempDir("cloudphone-bench-agent-");
  const configPath = join(agentDir, "agent.json");
  const localPort = await freePort();
  writeFileSync(
    configPath,
    JSON.stringify({
      controlPlaneUrl: cp.http,
      dataDir: join(agentDir, "data"),
      runtime: { image: TEST_DEVICE_IMAGE, networkMode: "host", privileged: false, stopTimeoutSeconds: 2 },
      capacity: { cpuMillis: 64_000, memoryMb: 262_144, diskMb: 1_000_000, deviceSlots: 1000 },
      localApi: { host: "127.0.0.1", port: localPort },
      logLevel: "warn",
    }),
  );
  const agent = await spawnNode(join(repoRoot, "agent/dist/main.js"), ["run", "--config", configPath, "--token", token], { CLOUDPHONE_AGENT_LOG_LEVEL: "info" }, "agent ready");
  const hostId = agent.ready.hostId;
  while ((await cp.call("GET", "/api/hosts")).hosts.find((h) => h.id === hostId)?.status !== "online") await sleep(50);
  return {
    cp,
    agent,
    hostId,
    /** The agent's data directory (its SQLite database is `agent.db` there). */
    agentDataDir: join(agentDir, "data"),
    /** The agent's local API port (GET /v1/devices gives each device's adb port). */
    localPort,
    async stop() {
      await stopProc(agent.proc);
      await cp.stop();
    },
  };
}

/**
 * Polls until every device in `ids` is in `state`, every `intervalMs`; false when `timeoutMs` passes first (the
 * benchmarks' clean-up waits are best effort), true otherwise.
 */
export async function waitForDevices(cp, ids, state, { intervalMs = 100, timeoutMs = Infinity } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const devices = await Promise.all(ids.map((id) => cp.call("GET", `/api/devices/${id}`)));
    if (devices.every((d) => d.state === state)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}
