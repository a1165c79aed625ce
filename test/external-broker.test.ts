// O2: the control plane on an external broker (Mosquitto from apt) instead of the embedded aedes.
// Authentication and ACL are then the broker's job (docs/mqtt.md); this broker allows anonymous clients
// on loopback so the test is about delivery through a foreign broker, not about its configuration.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startControlPlane, startAgent, freePort, type ControlPlaneHandle, type AgentHandle } from "./support/processes.js";
import { api } from "./support/api.js";
import { waitFor } from "./support/wait.js";

let broker: ChildProcess;
let brokerPort: number;
let dir: string;
let cp: ControlPlaneHandle;
let agent: AgentHandle | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cloudphone-mosquitto-"));
  brokerPort = await freePort();
  writeFileSync(
    join(dir, "mosquitto.conf"),
    [`listener ${brokerPort} 127.0.0.1`, "allow_anonymous true", "persistence true", `persistence_location ${dir}/`, "log_dest stdout"].join("\n") + "\n",
  );
  broker = spawn("mosquitto", ["-c", join(dir, "mosquitto.conf")], { stdio: "ignore" });
  await waitFor(() => (spawnSync("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(brokerPort), "-t", "probe", "-m", "x"]).status === 0 ? true : undefined), {
    message: "mosquitto up",
  });
  cp = await startControlPlane({ env: { CLOUDPHONE_CP_MQTT_MODE: "external", CLOUDPHONE_CP_MQTT_URL: `mqtt://127.0.0.1:${brokerPort}` } });
});

afterAll(async () => {
  await agent?.stop();
  await cp?.stop();
  broker?.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe("external broker", () => {
  it("reports ready, and runs the device lifecycle through Mosquitto", async () => {
    const ready = await api(cp).raw("GET", "/ready");
    expect(ready.status).toBe(200);
    expect(JSON.stringify(ready.body)).toContain("broker");

    agent = await startAgent({ controlPlane: cp, token: await api(cp).createEnrollmentToken() });
    await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent!.hostId && h.status === "online"), { message: "host online via mosquitto" });
    const id = (await api(cp).createDevice({ cpuMillis: 100, memoryMb: 256, diskMb: 256 })).body.id as string;
    await waitFor(async () => (await api(cp).getDevice(id)).body.state === "running" || undefined, { message: "running via mosquitto" });

    // The control plane's persistent session survives its own restart: a stop issued just before it dies is
    // still applied, and the resulting events are delivered after it comes back.
    expect((await api(cp).deviceAction(id, "stop")).status).toBe(202);
    await cp.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 2000));
    await cp.restart();
    await waitFor(async () => (await api(cp).getDevice(id)).body.state === "stopped" || undefined, { message: "stopped after CP restart" });
    const names = (await api(cp).listEvents({ deviceId: id })).events.map((e) => e.name);
    expect(names).toEqual(["device.created", "device.started", "device.stopped"]);
  });
});
