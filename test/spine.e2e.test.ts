// End to end: enrollment → agent online → device lifecycle through the HTTP API, seen in Docker,
// in the API, as retained MQTT state and as ordered device.* events (issue 2 acceptance 1 and 6).
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt from "mqtt";
import { topics, DeviceStateMessage } from "@cloudphone/shared-protocol";
import { startControlPlane, startAgent, type ControlPlaneHandle, type AgentHandle } from "./support/processes.js";
import { api } from "./support/api.js";
import { waitFor } from "./support/wait.js";
import { docker, listManagedContainers } from "./support/docker.js";

let cp: ControlPlaneHandle;
let agent: AgentHandle;
let operator: { username: string; password: string };
let sub: ReturnType<typeof spawn> | undefined;
const subLines: string[] = [];

beforeAll(async () => {
  cp = await startControlPlane();
  const token = await api(cp).createEnrollmentToken();
  agent = await startAgent({ controlPlane: cp, token });
  await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), {
    message: "host online",
  });
  operator = await api(cp).createMqttCredential("op-e2e", "read");
  // An operator follows the whole tree with plain mosquitto_sub, as docs/mqtt.md says.
  sub = spawn("mosquitto_sub", ["-h", "127.0.0.1", "-p", String(cp.mqttPort), "-u", operator.username, "-P", operator.password, "-v", "-t", "cloudphone/v1/#"]);
  sub.stdout!.setEncoding("utf8").on("data", (d: string) => subLines.push(...d.split("\n").filter(Boolean)));
});

afterAll(async () => {
  sub?.kill();
  await agent?.stop();
  await cp?.stop();
});

async function deviceState(id: string): Promise<string> {
  return (await api(cp).getDevice(id)).body.state as string;
}

async function retainedState(hostId: string, deviceId: string): Promise<DeviceStateMessage> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${cp.mqttPort}`, { username: operator.username, password: operator.password, reconnectPeriod: 0 });
  try {
    const got = new Promise<DeviceStateMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no retained device state")), 5000);
      client.on("message", (_t, payload, packet) => {
        if (!packet.retain) return;
        clearTimeout(timer);
        resolve(DeviceStateMessage.parse(JSON.parse(payload.toString())));
      });
    });
    await client.subscribeAsync(topics.deviceState(hostId, deviceId), { qos: 1 });
    return await got;
  } finally {
    await client.endAsync();
  }
}

describe("spine end to end", () => {
  it("enrolled host reports capacity", async () => {
    const host = (await api(cp).listHosts()).find((h) => h.id === agent.hostId);
    expect(host?.capacity?.deviceSlots).toBeGreaterThan(0);
    expect(host?.lastSeenAt).toBeTypeOf("number");
  });

  it("creates, stops, starts, restarts and deletes a device, reflected everywhere and in order", async () => {
    const created = await api(cp).createDevice({ cpuMillis: 500, memoryMb: 256, diskMb: 1024, width: 720, height: 1280, dpi: 320, fps: 30, ownerId: "user-1" });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.body.hostId).toBe(agent.hostId);
    await waitFor(async () => (await deviceState(id)) === "running", { message: "device running" });

    // The container: one, with the labels, limits and boot arguments of the profile.
    const containers = await listManagedContainers(agent.hostId);
    const mine = containers.filter((c) => c.Labels["io.cloudphone.device-id"] === id);
    expect(mine).toHaveLength(1);
    const info = await docker.getContainer(mine[0]!.Id).inspect();
    expect(info.State.Running).toBe(true);
    expect(info.Name).toBe(`/cloudphone-${id}`);
    expect(info.Config.Labels).toMatchObject({
      "io.cloudphone.managed": "true",
      "io.cloudphone.host-id": agent.hostId,
      "io.cloudphone.device-id": id,
      "io.cloudphone.owner-id": "user-1",
    });
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.Memory).toBe(256 * 1024 * 1024);
    expect(info.HostConfig.MemorySwap).toBe(256 * 1024 * 1024);
    expect(info.Config.Cmd).toEqual(expect.arrayContaining(["androidboot.redroid_width=720", "androidboot.redroid_height=1280", "androidboot.redroid_dpi=320", "androidboot.redroid_fps=30"]));
    expect(info.Mounts.some((m) => m.Destination === "/data" && m.Name === `cloudphone-data-${id}`)).toBe(true);

    // Retained state on the broker.
    const retained = await retainedState(agent.hostId, id);
    expect(retained.state).toBe("running");

    const startedAt = info.State.StartedAt;
    expect((await api(cp).deviceAction(id, "stop")).status).toBe(202);
    await waitFor(async () => (await deviceState(id)) === "stopped", { message: "device stopped" });
    expect((await docker.getContainer(info.Id).inspect()).State.Running).toBe(false);
    expect((await retainedState(agent.hostId, id)).state).toBe("stopped");

    expect((await api(cp).deviceAction(id, "start")).status).toBe(202);
    await waitFor(async () => (await deviceState(id)) === "running", { message: "device running again" });

    const beforeRestart = (await docker.getContainer(info.Id).inspect()).State.StartedAt;
    expect(beforeRestart).not.toBe(startedAt);
    expect((await api(cp).deviceAction(id, "restart")).status).toBe(202);
    await waitFor(async () => (await docker.getContainer(info.Id).inspect()).State.StartedAt !== beforeRestart && (await deviceState(id)) === "running", {
      message: "device restarted",
    });

    expect((await api(cp).deleteDevice(id)).status).toBe(202);
    await waitFor(async () => (await deviceState(id)) === "deleted", { message: "device deleted" });
    expect((await listManagedContainers(agent.hostId)).filter((c) => c.Labels["io.cloudphone.device-id"] === id)).toHaveLength(0);
    const volumes = await docker.listVolumes();
    expect((volumes.Volumes ?? []).some((v) => v.Name === `cloudphone-data-${id}`)).toBe(false);
    expect((await api(cp).deviceAction(id, "start")).status).toBe(409);

    const expected = ["device.created", "device.started", "device.stopped", "device.started", "device.stopped", "device.started", "device.deleted"];
    const events = await waitFor(async () => {
      const evs = (await api(cp).listEvents({ deviceId: id })).events;
      return evs.length >= expected.length ? evs : undefined;
    }, { message: "all device events" });
    expect(events.map((e) => e.name)).toEqual(expected);
    const seqs = events.map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(events.map((e) => e.msgId)).size).toBe(events.length);
  });

  it("an operator with mosquitto_sub sees the documented tree", async () => {
    await waitFor(() => (subLines.some((l) => l.includes("/events/device.deleted")) ? true : undefined), { message: "events seen by mosquitto_sub" });
    const host = agent.hostId;
    const seen = (suffix: RegExp) => subLines.some((l) => suffix.test(l.split(" ")[0]!));
    expect(seen(new RegExp(`^cloudphone/v1/hosts/${host}/status$`))).toBe(true);
    expect(seen(new RegExp(`^cloudphone/v1/hosts/${host}/capacity$`))).toBe(true);
    expect(seen(new RegExp(`^cloudphone/v1/hosts/${host}/devices/[^/]+/state$`))).toBe(true);
    expect(seen(new RegExp(`^cloudphone/v1/hosts/${host}/events/device\\.started$`))).toBe(true);
    expect(seen(new RegExp(`^cloudphone/v1/hosts/${host}/commands$`))).toBe(true);
    expect(seen(new RegExp(`^cloudphone/v1/hosts/${host}/results$`))).toBe(true);
    // Every line is a topic and a JSON payload carrying the envelope.
    for (const line of subLines.slice(0, 20)) {
      const payload = JSON.parse(line.slice(line.indexOf(" ") + 1)) as { v: number; id: string; seq: number };
      expect(payload.v).toBe(1);
      expect(payload.id.length).toBeGreaterThanOrEqual(8);
    }
  });
});
