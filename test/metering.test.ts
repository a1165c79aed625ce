// Metering across agent kill -9 (twice), a container stopped while the agent is down, and a control-plane/broker
// outage: per device, the usage records the control plane holds add up to the container's running time according
// to Docker (within one reporting interval), never overlap, and no record is lost or stored twice (B3, M1, M4).
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startControlPlane, startAgent, type ControlPlaneHandle, type AgentHandle } from "./support/processes.js";
import { api } from "./support/api.js";
import { sleep, waitFor } from "./support/wait.js";
import { docker } from "./support/docker.js";

const INTERVAL_MS = 1500;
let cp: ControlPlaneHandle;
let agent: AgentHandle;

beforeAll(async () => {
  cp = await startControlPlane({ env: { CLOUDPHONE_CP_BILLING_INTERVAL_MS: "500" } });
  agent = await startAgent({ controlPlane: cp, token: await api(cp).createEnrollmentToken(), config: { metering: { intervalMs: INTERVAL_MS } } });
  await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { message: "host online" });
});
afterAll(async () => {
  tracker?.stop();
  await agent?.stop();
  await cp?.stop();
});

const parseTime = (t: string | undefined): number | null => (!t || t.startsWith("0001-") ? null : Date.parse(t));

/**
 * Docker keeps only the latest run's StartedAt (and the latest exit's FinishedAt, also while a later run goes on),
 * so the runs of each container are collected by inspecting it often; every run here lasts seconds.
 */
class RunTracker {
  readonly runs = new Map<string, Map<number, { start: number; end: number | null }>>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly deviceIds: string[]) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), 200);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const id of this.deviceIds) {
        const info = await docker.getContainer(`cloudphone-${id}`).inspect().catch(() => null);
        if (!info) continue;
        const started = parseTime(info.State.StartedAt);
        const finished = parseTime(info.State.FinishedAt);
        if (started === null) continue;
        const runs = this.runs.get(id) ?? new Map<number, { start: number; end: number | null }>();
        this.runs.set(id, runs);
        if (!runs.has(started)) runs.set(started, { start: started, end: null });
        if (finished === null) continue;
        // The exit belongs to the latest run that started at or before it: this run, or (while a later run goes
        // on) the previous one.
        const owner = [...runs.values()].filter((r) => r.start <= finished).sort((a, b) => b.start - a.start)[0];
        if (owner && owner.end === null) owner.end = finished;
      }
    } finally {
      this.busy = false;
    }
  }

  /** Total running time of a device's finished runs; throws if one is still running. */
  total(id: string): number {
    let sum = 0;
    for (const r of this.runs.get(id)?.values() ?? []) {
      if (r.end === null) throw new Error(`device ${id}: run started at ${r.start} has no end`);
      sum += r.end - r.start;
    }
    return sum;
  }
}
let tracker: RunTracker | undefined;

async function running(id: string): Promise<boolean> {
  return (await docker.getContainer(`cloudphone-${id}`).inspect().catch(() => null))?.State.Running === true;
}

describe("metering", () => {
  it("reports each device's running time exactly once across agent crashes and a broker outage", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await api(cp).createDevice({ cpuMillis: 100, memoryMb: 256, diskMb: 256 });
      expect(res.status).toBe(201);
      ids.push(res.body.id as string);
    }
    tracker = new RunTracker(ids);
    tracker.start();
    for (const id of ids) await waitFor(async () => (await api(cp).getDevice(id)).body.state === "running", { message: `${id} running` });
    await sleep(2500);

    // 1. kill -9; while the agent is down, one container is stopped from outside and stays down for > 2 intervals.
    await agent.kill9();
    await tracker.poll();
    await docker.getContainer(`cloudphone-${ids[2]}`).stop({ t: 1 });
    await tracker.poll();
    await sleep(3500);
    await agent.restart();
    // The agent notices the exit and recovers the device (after its back-off): a second run of that container.
    await waitFor(async () => (tracker!.runs.get(ids[2]!)?.size ?? 0) >= 2 && (await running(ids[2]!)), { timeoutMs: 30_000, message: "device recovered" });
    await sleep(2000);

    // 2. control plane and broker down for ~5 s, with the second kill -9 of the agent in the middle of it.
    await cp.kill("SIGKILL");
    await sleep(2000);
    await agent.kill9();
    await sleep(1000);
    await agent.restart();
    await sleep(2000);
    await cp.restart();
    await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { timeoutMs: 30_000, message: "host back online" });
    await sleep(2000);

    // 3. stop everything; usage must end where each container stopped.
    for (const id of ids) expect((await api(cp).deviceAction(id, "stop")).status).toBe(202);
    for (const id of ids) await waitFor(async () => (await api(cp).getDevice(id)).body.state === "stopped", { timeoutMs: 30_000, message: `${id} stopped` });
    await tracker.poll();
    tracker.stop();
    await waitFor(async () => ((await agent.localApi("/v1/outbox/stats")) as { pending: number }).pending === 0 || undefined, { timeoutMs: 30_000, message: "outbox drained" });

    const agentDb = new Database(join(agent.dataDir, "agent.db"), { readonly: true });
    const cpDb = new Database(join(cp.dataDir, "control-plane.db"), { readonly: true });
    try {
      // The billing pass has processed every record (charged, or metered free: these fleet devices have no plan).
      await waitFor(
        () => (cpDb.prepare("SELECT COUNT(*) FROM usage_records WHERE host_id = ? AND charged_at IS NULL").pluck().get(agent.hostId) === 0 ? true : undefined),
        { timeoutMs: 30_000, message: "every usage record processed by billing" },
      );
      expect(agentDb.prepare("SELECT count(*) FROM meter").pluck().get()).toBe(0); // no device is being metered
      const sent = (agentDb.prepare("SELECT payload FROM outbox WHERE topic LIKE '%/usage'").pluck().all() as string[]).map(
        (p) => (JSON.parse(p) as { recordId: string }).recordId,
      );
      type Row = { record_id: string; device_id: string; from_ms: number; to_ms: number };
      const rows = cpDb.prepare("SELECT record_id, device_id, from_ms, to_ms FROM usage_records WHERE host_id = ? ORDER BY device_id, from_ms").all(agent.hostId) as Row[];
      // Nothing lost, nothing doubled: the control plane holds exactly the records the agent wrote, each once.
      expect(new Set(sent).size).toBe(sent.length);
      expect(rows.map((r) => r.record_id).sort()).toEqual([...sent].sort());

      for (const id of ids) {
        const mine = rows.filter((r) => r.device_id === id);
        for (let i = 0; i < mine.length; i++) {
          const r = mine[i]!;
          expect(r.to_ms).toBeGreaterThan(r.from_ms);
          expect(r.to_ms - r.from_ms).toBeLessThanOrEqual(INTERVAL_MS);
          if (i > 0) expect(r.from_ms, `records of ${id} overlap`).toBeGreaterThanOrEqual(mine[i - 1]!.to_ms);
        }
        const metered = mine.reduce((a, r) => a + (r.to_ms - r.from_ms), 0);
        const dockerTotal = tracker.total(id);
        // Billing counted each record exactly once: the device's meter equals the sum of its records.
        expect(cpDb.prepare("SELECT metered_ms FROM device_meters WHERE device_id = ?").pluck().get(id), `${id}: billed time`).toBe(metered);
        expect(Math.abs(metered - dockerTotal), `${id}: metered ${metered} ms, Docker ran ${dockerTotal} ms`).toBeLessThanOrEqual(INTERVAL_MS);
      }
      expect(tracker.runs.get(ids[2]!)?.size).toBe(2);
    } finally {
      agentDb.close();
      cpDb.close();
    }
  });
});
