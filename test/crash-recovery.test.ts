// kill -9 of the agent in the middle of a burst of 200 device operations, then restart: every event reaches
// the control plane exactly once (by message id), no orphan or duplicate containers, state converges
// (issue 2 acceptance 2).
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startControlPlane, startAgent, type ControlPlaneHandle, type AgentHandle } from "./support/processes.js";
import { api } from "./support/api.js";
import { waitFor } from "./support/wait.js";
import { listManagedContainers } from "./support/docker.js";

let cp: ControlPlaneHandle;
let agent: AgentHandle;

beforeAll(async () => {
  cp = await startControlPlane();
  agent = await startAgent({ controlPlane: cp, token: await api(cp).createEnrollmentToken(), capacity: { deviceSlots: 64 } });
  await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { message: "host online" });
});
afterAll(async () => {
  await agent?.stop();
  await cp?.stop();
});

const small = { cpuMillis: 100, memoryMb: 256, diskMb: 256 };
const expectedState = { running: "running", stopped: "stopped", deleted: "deleted" } as const;

describe("agent kill -9 during a burst", () => {
  it("loses nothing, duplicates nothing, converges", async () => {
    // 200 operations: 20 creates, then 170 start/stop/restart on them, then 10 deletes, fired without waiting.
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await api(cp).createDevice(small);
      expect(res.status).toBe(201);
      ids.push(res.body.id as string);
    }
    const actions = ["stop", "start", "restart"] as const;
    const ops: Array<Promise<{ status: number }>> = [];
    let killed: Promise<void> | undefined;
    for (let i = 0; i < 170; i++) {
      ops.push(api(cp).deviceAction(ids[i % ids.length]!, actions[(i * 7) % 3]!));
      if (i === 60) killed = new Promise((r) => setTimeout(r, 300)).then(() => agent.kill9());
    }
    for (const id of ids.slice(0, 10)) ops.push(api(cp).deleteDevice(id));
    const results = await Promise.all(ops);
    expect(results.every((r) => r.status === 202)).toBe(true);
    await killed;
    await new Promise((r) => setTimeout(r, 1000));
    await agent.restart();

    // Converges: every device's reported state equals its desired state.
    await waitFor(
      async () => {
        const devices = (await api(cp).raw("GET", "/api/devices?includeDeleted=true")).body as { devices: Array<{ id: string; desired: keyof typeof expectedState; state: string }> };
        const mine = devices.devices.filter((d) => ids.includes(d.id));
        return mine.length === ids.length && mine.every((d) => d.state === expectedState[d.desired]) ? mine : undefined;
      },
      { timeoutMs: 120_000, message: "states converge" },
    );

    // Docker: exactly one container per live device, none for deleted ones, nothing else with our label.
    const containers = await listManagedContainers(agent.hostId);
    const byDevice = new Map<string, number>();
    for (const c of containers) byDevice.set(c.Labels["io.cloudphone.device-id"]!, (byDevice.get(c.Labels["io.cloudphone.device-id"]!) ?? 0) + 1);
    expect([...byDevice.keys()].sort()).toEqual(ids.slice(10).sort());
    expect([...byDevice.values()].every((n) => n === 1)).toBe(true);

    // Exactly once: the agent's outbox drains, and the control plane holds each of its message ids once.
    await waitFor(async () => ((await agent.localApi("/v1/outbox/stats")) as { pending: number }).pending === 0 || undefined, { message: "outbox drained" });
    const agentDb = new Database(join(agent.dataDir, "agent.db"), { readonly: true });
    const cpDb = new Database(join(cp.dataDir, "control-plane.db"), { readonly: true });
    try {
      const sent = agentDb.prepare("SELECT id FROM outbox WHERE status = 'published'").pluck().all() as string[];
      const received = new Set(cpDb.prepare("SELECT msg_id FROM inbox").pluck().all() as string[]);
      const missing = sent.filter((id) => !received.has(id));
      expect(missing).toEqual([]);
      // Events: one row per message id (the primary key guarantees it); the counts must also match the agent's.
      const agentEvents = agentDb.prepare("SELECT count(*) FROM outbox WHERE topic LIKE '%/events/%'").pluck().get() as number;
      const cpEvents = cpDb.prepare("SELECT count(*) FROM events WHERE host_id = ?").pluck().get(agent.hostId) as number;
      expect(cpEvents).toBe(agentEvents);
      // Each device's events, in seq order, form a valid life: a live device starts with device.created, once;
      // a deleted one ends with device.deleted, once (it may never have had a container if the delete arrived
      // before the agent got to create it, and then has no device.created at all).
      for (const id of ids) {
        const names = cpDb.prepare("SELECT name FROM events WHERE device_id = ? ORDER BY seq").pluck().all(id) as string[];
        const created = names.filter((n) => n === "device.created").length;
        if (ids.indexOf(id) < 10) {
          expect(names.at(-1)).toBe("device.deleted");
          expect(names.filter((n) => n === "device.deleted")).toHaveLength(1);
          expect(created).toBeLessThanOrEqual(1);
          if (created === 1) expect(names[0]).toBe("device.created");
        } else {
          expect(names[0]).toBe("device.created");
          expect(created).toBe(1);
        }
      }
    } finally {
      agentDb.close();
      cpDb.close();
    }
  });
});
