// Crash recovery of the purchase saga (B2): for each step, the control plane SIGKILLs itself right after committing
// it (CLOUDPHONE_CP_FAULT_CRASH_AFTER_SAGA_STEP, resilience testing only), is restarted without the fault on the same
// data dir and ports, and must finish the saga: every saga ends completed or compensated, the ledger re-derives every
// balance, and nobody is charged twice. One control plane and one agent serve all five crashes.
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, startControlPlane, type AgentHandle, type ControlPlaneHandle } from "./support/processes.js";
import { api } from "./support/api.js";
import { waitFor } from "./support/wait.js";
import { callAs, registerUser } from "./support/users.js";
import { listManagedContainers } from "./support/docker.js";

const STEPS = ["order_created", "device_allocated", "device_ready", "payment_taken", "activated"] as const;
const FAULT = "CLOUDPHONE_CP_FAULT_CRASH_AFTER_SAGA_STEP";
const PRICE = 700;
const START = 10_000;
const SPEC = { cpuMillis: 100, memoryMb: 256, diskMb: 256, width: 720, height: 1280, dpi: 320, fps: 30 };

let cp: ControlPlaneHandle;
let agent: AgentHandle;
let planId: string;

interface Order {
  id: string;
  status: string;
  deviceId: string | null;
  saga: { status: string; step: string } | null;
}

const call = <T = Record<string, unknown>>(token: string, method: string, path: string, body?: unknown) => callAs<T>(cp.httpUrl, token, method, path, body);
const newUser = (name: string) => registerUser(cp.httpUrl, name, START);

const hostOnline = () =>
  waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { timeoutMs: 30_000, message: "host online" });

/** Reads the control plane's database directly (read-only), for what the API does not show across users. */
function inDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(join(cp.dataDir, "control-plane.db"), { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  cp = await startControlPlane();
  agent = await startAgent({
    controlPlane: cp,
    token: await api(cp).createEnrollmentToken(),
    capacity: { cpuMillis: 64_000, memoryMb: 262_144, diskMb: 1_000_000, deviceSlots: 20 },
  });
  await hostOnline();
  const plan = await call<{ id: string }>(cp.adminToken, "POST", "/api/admin/plans", { name: "Crash phone", priceMinor: PRICE, usageModel: "per_hour", usageRateMinor: 0, spec: SPEC });
  expect(plan.status).toBe(201);
  planId = plan.body.id;
});

afterAll(async () => {
  await agent?.stop();
  await cp?.stop();
});

describe("purchase saga survives a control plane crash after every step", () => {
  for (const step of STEPS) {
    it(`SIGKILL right after ${step}: the restarted control plane finishes the saga once`, async () => {
      await cp.restart({ env: { [FAULT]: step } });
      await hostOnline();
      const user = await newUser(step.replace("_", "-"));
      const linesBefore = cp.logs().length;

      // The first two steps are persisted inside the request, so the request dies with the process.
      const reply = await call(user.token, "POST", "/api/orders", { planId }).catch((e: unknown) => e);
      if (step === "order_created" || step === "device_allocated") expect(reply).toBeInstanceOf(Error);
      else expect(reply).toMatchObject({ status: 202 });
      await waitFor(() => (cp.proc.signalCode === "SIGKILL" ? true : undefined), { timeoutMs: 60_000, message: `control plane killed after ${step}` });
      expect(inDb((db) => db.prepare("SELECT step FROM sagas WHERE user_id = ?").pluck().get(user.id))).toBe(step);

      await cp.restart({ env: { [FAULT]: undefined } });
      if (step !== "activated") {
        expect(cp.logs().slice(linesBefore).some((l) => l.includes("resuming open purchase sagas"))).toBe(true);
      }
      const orders = await waitFor(async () => {
        const list = (await call<{ orders: Order[] }>(user.token, "GET", "/api/orders")).body.orders;
        return list.length === 1 && list[0]!.saga && ["completed", "compensated"].includes(list[0]!.saga.status) ? list : undefined;
      }, { timeoutMs: 60_000, message: `saga after a crash at ${step} finished` });
      const order = orders[0]!;
      expect(order).toMatchObject({ status: "active", saga: { status: "completed", step: "activated" } });

      // Charged exactly once; the device runs, once.
      const entries = (await call<{ entries: { kind: string; amountMinor: number; orderId: string | null }[] }>(user.token, "GET", "/api/billing/ledger")).body.entries;
      expect(entries.filter((e) => e.orderId === order.id)).toEqual([expect.objectContaining({ kind: "deduct", amountMinor: -PRICE })]);
      expect((await call<{ balanceMinor: number }>(user.token, "GET", "/api/billing/balance")).body.balanceMinor).toBe(START - PRICE);
      await waitFor(async () => {
        const mine = (await listManagedContainers(agent.hostId)).filter((c) => c.Labels["io.cloudphone.device-id"] === order.deviceId);
        return mine.length === 1 && mine[0]!.State === "running";
      }, { message: "one running container for the order's device" });
      expect(inDb((db) => db.prepare("SELECT COUNT(*) FROM devices WHERE order_id = ?").pluck().get(order.id))).toBe(1);
      expect(inDb((db) => db.prepare("SELECT COUNT(*) FROM platform_outbox WHERE name = 'order.completed' AND user_id = ?").pluck().get(user.id))).toBe(1);

      // Across every saga so far: all finished, no order paid twice, every cached balance re-derivable.
      const open = inDb((db) => db.prepare("SELECT COUNT(*) FROM sagas WHERE status NOT IN ('completed','compensated')").pluck().get());
      expect(open).toBe(0);
      const doublePaid = inDb((db) =>
        db.prepare("SELECT order_id FROM ledger_entries WHERE kind = 'deduct' AND order_id IS NOT NULL GROUP BY order_id HAVING COUNT(*) > 1").all(),
      );
      expect(doublePaid).toEqual([]);
      const verify = await call<{ consistent: boolean; mismatches: unknown[] }>(cp.adminToken, "GET", "/api/admin/billing/verify");
      expect(verify.body).toMatchObject({ consistent: true, mismatches: [] });
    });
  }
});
