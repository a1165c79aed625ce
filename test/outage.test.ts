// Broker and control plane down for 30 s while one container is killed from outside and another is stopped
// by the agent: the changes queue in the outbox and are applied after reconnect, in order
// (issue 2 acceptance 3).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startControlPlane, startAgent, type ControlPlaneHandle, type AgentHandle } from "./support/processes.js";
import { api } from "./support/api.js";
import { waitFor } from "./support/wait.js";
import { docker, listManagedContainers } from "./support/docker.js";

let cp: ControlPlaneHandle;
let agent: AgentHandle;

beforeAll(async () => {
  cp = await startControlPlane();
  agent = await startAgent({ controlPlane: cp, token: await api(cp).createEnrollmentToken() });
  await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { message: "host online" });
});
afterAll(async () => {
  await agent?.stop();
  await cp?.stop();
});

describe("control plane and broker outage", () => {
  it("queues changes during 30 s of outage and applies them in order afterwards", async () => {
    const a = (await api(cp).createDevice({ cpuMillis: 100, memoryMb: 256, diskMb: 256 })).body.id as string;
    const b = (await api(cp).createDevice({ cpuMillis: 100, memoryMb: 256, diskMb: 256 })).body.id as string;
    for (const id of [a, b]) await waitFor(async () => (await api(cp).getDevice(id)).body.state === "running", { message: `${id} running` });
    const eventsBefore = (await api(cp).listEvents({ hostId: agent.hostId })).events.length;

    const outageStart = Date.now();
    await cp.kill("SIGKILL");

    // From outside: kill A's container. By the agent (its local API): stop B.
    const containerA = (await listManagedContainers(agent.hostId)).find((c) => c.Labels["io.cloudphone.device-id"] === a)!;
    await docker.getContainer(containerA.Id).kill();
    const stopB = await agent.localApiPost(`/v1/devices/${b}/stop`);
    expect(stopB.status).toBeLessThan(300);

    // Devices keep being managed while the control plane is away: A is recovered, B stays stopped.
    await waitFor(async () => (await docker.getContainer(containerA.Id).inspect()).State.Running || undefined, { message: "A recovered by the agent" });
    const containerB = (await listManagedContainers(agent.hostId)).find((c) => c.Labels["io.cloudphone.device-id"] === b)!;
    await waitFor(async () => !(await docker.getContainer(containerB.Id).inspect()).State.Running || undefined, { message: "B stopped" });
    const stats = (await agent.localApi("/v1/outbox/stats")) as { pending: number };
    expect(stats.pending).toBeGreaterThan(0);

    await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - outageStart))));
    await cp.restart();

    await waitFor(async () => ((await agent.localApi("/v1/outbox/stats")) as { pending: number }).pending === 0 || undefined, { timeoutMs: 60_000, message: "outbox drained" });
    await waitFor(async () => (await api(cp).getDevice(a)).body.state === "running" || undefined, { message: "A running in CP" });
    await waitFor(async () => (await api(cp).getDevice(b)).body.state === "stopped" || undefined, { message: "B stopped in CP" });

    const after = (await api(cp).listEvents({ hostId: agent.hostId })).events;
    const fresh = after.slice(eventsBefore);
    const namesA = fresh.filter((e) => e.deviceId === a).map((e) => e.name);
    const namesB = fresh.filter((e) => e.deviceId === b).map((e) => e.name);
    expect(namesA).toEqual(["device.error", "device.recovered"]);
    expect(namesB).toEqual(["device.stopped"]);
    const seqs = after.map((e) => e.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    // Events created during the outage carry timestamps from the outage, not from delivery.
    expect(fresh.every((e) => e.ts >= outageStart && e.ts < outageStart + 30_000)).toBe(true);
    expect((await api(cp).listHosts()).find((h) => h.id === agent.hostId)?.status).toBe("online");
  });
});
