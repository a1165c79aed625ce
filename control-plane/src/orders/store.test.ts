import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DeviceStatus, type SagaStatus, type SagaStep } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import { enrollTestHost, tempDb } from "../testing/fixtures.js";
import { decide } from "./saga.js";
import { dueSagaIds, insertOrderAndSaga, loadFacts, loadSaga } from "./store.js";
import { sagaCountsByStatus } from "./stats.js";

const SPEC = { cpuMillis: 1000, memoryMb: 1024, diskMb: 2048, width: 720, height: 1280, dpi: 320, fps: 30 };
const NOW = Date.now();

let db: Db;
let cleanup: () => void;
let hostId: string;
let n = 0;

beforeEach(() => {
  ({ db, cleanup } = tempDb());
  hostId = enrollTestHost(db).hostId;
  db.prepare("INSERT INTO users (id, email, role, created_at, updated_at) VALUES ('u1', 'u1@example.test', 'user', 0, 0)").run();
  db.prepare(
    "INSERT INTO plans (id, name, price_minor, usage_model, usage_rate_minor, spec, created_at, updated_at) VALUES ('p1', 'P', 100, 'per_hour', 1, ?, 0, 0)",
  ).run(JSON.stringify(SPEC));
});
afterEach(() => cleanup());

interface Shape {
  status: SagaStatus;
  step: SagaStep;
  deadlineAt: number;
  device?: { state: string; desired: string; deletedAt: number | null };
}

function makeSaga(shape: Shape): string {
  const plan = { id: "p1", name: "P", priceMinor: 100, active: true, spec: SPEC, quota: null };
  const { orderId, sagaId } = insertOrderAndSaga(db, { userId: "u1", plan, name: "d", requestId: null, deadlineAt: shape.deadlineAt }, NOW - 10);
  db.prepare("UPDATE sagas SET status = ?, step = ? WHERE id = ?").run(shape.status, shape.step, sagaId);
  if (shape.device) {
    const id = `dev-${++n}`;
    db.prepare(
      `INSERT INTO devices (id, owner_id, host_id, spec, cpu_millis, memory_mb, disk_mb, desired, generation, state, created_at, updated_at, deleted_at)
       VALUES (?, 'u1', ?, '{}', 1, 1, 1, ?, 1, ?, 0, 0, ?)`,
    ).run(id, hostId, shape.device.desired, shape.device.state, shape.device.deletedAt);
    db.prepare("UPDATE orders SET device_id = ? WHERE id = ?").run(id, orderId);
  }
  return sagaId;
}

describe("saga store", () => {
  it("the runner's due query leaves out exactly the sagas decide() would only wait on", () => {
    const shapes: Shape[] = [];
    for (const deadlineAt of [NOW + 60_000, NOW - 1]) {
      for (const state of DeviceStatus.options) {
        for (const desired of ["running", "deleted"]) {
          for (const deletedAt of [null, NOW - 5]) shapes.push({ status: "running", step: "device_allocated", deadlineAt, device: { state, desired, deletedAt } });
        }
      }
      shapes.push({ status: "running", step: "device_allocated", deadlineAt }); // no device
      for (const step of ["order_created", "device_ready", "payment_taken"] as const) shapes.push({ status: "running", step, deadlineAt });
      shapes.push({ status: "compensating", step: "device_allocated", deadlineAt, device: { state: "creating", desired: "running", deletedAt: null } });
      for (const status of ["completed", "compensated", "compensation_failed"] as const) shapes.push({ status, step: "activated", deadlineAt });
    }
    const ids = shapes.map(makeSaga);
    const due = new Set(dueSagaIds(db, NOW, 10_000));
    let waiting = 0;
    for (const id of ids) {
      const s = loadSaga(db, id)!;
      const d = decide(s, loadFacts(db, s), NOW);
      if (d.kind === "wait") waiting++;
      expect({ id, step: s.step, due: due.has(id) }).toEqual({ id, step: s.step, due: d.kind !== "wait" && d.kind !== "none" });
    }
    expect(waiting).toBeGreaterThan(0);
  });

  it("leaves sagas in back-off alone until their next attempt is due", () => {
    const id = makeSaga({ status: "running", step: "device_ready", deadlineAt: NOW + 60_000 });
    db.prepare("UPDATE sagas SET next_attempt_at = ? WHERE id = ?").run(NOW + 5_000, id);
    expect(dueSagaIds(db, NOW, 10)).toEqual([]);
    expect(dueSagaIds(db, NOW + 5_000, 10)).toEqual([id]);
  });

  it("counts sagas by status, every status present", () => {
    makeSaga({ status: "completed", step: "activated", deadlineAt: NOW });
    makeSaga({ status: "completed", step: "activated", deadlineAt: NOW });
    makeSaga({ status: "compensating", step: "device_allocated", deadlineAt: NOW });
    expect(sagaCountsByStatus(db)).toEqual({ running: 0, compensating: 1, completed: 2, compensated: 0, compensation_failed: 0 });
  });
});
