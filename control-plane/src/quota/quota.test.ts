import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../store/db.js";
import { createDevice } from "../devices/registry.js";
import { enrollTestHost, tempDb } from "../testing/fixtures.js";
import { checkQuota } from "./quota.js";
import { grantPlanQuota, quotaLimits, quotaUsage, setQuota } from "./store.js";
import { quotaView } from "./defaults.js";

const LIMITS = { maxDevices: 2, maxCpuMillis: 4_000, maxMemoryMb: 4_096, maxDiskMb: 20_000 };
const NONE = { devices: 0, cpuMillis: 0, memoryMb: 0, diskMb: 0 };

describe("checkQuota (Q1)", () => {
  it("allows a request that lands exactly on every limit", () => {
    expect(checkQuota(LIMITS, { devices: 1, cpuMillis: 2_000, memoryMb: 2_048, diskMb: 10_000 }, { cpuMillis: 2_000, memoryMb: 2_048, diskMb: 10_000 })).toEqual({ ok: true });
  });

  it.each([
    ["devices", { ...NONE, devices: 2 }, { cpuMillis: 1, memoryMb: 1, diskMb: 1 }],
    ["cpuMillis", NONE, { cpuMillis: 4_001, memoryMb: 1, diskMb: 1 }],
    ["memoryMb", { ...NONE, memoryMb: 4_000 }, { cpuMillis: 1, memoryMb: 97, diskMb: 1 }],
    ["diskMb", NONE, { cpuMillis: 1, memoryMb: 1, diskMb: 20_001 }],
  ] as const)("names the %s dimension when it would be exceeded", (dimension, usage, request) => {
    const r = checkQuota(LIMITS, usage, request);
    expect(r).toMatchObject({ ok: false, code: "quota_exceeded", dimension });
  });

  it("a zero quota refuses everything", () => {
    expect(checkQuota({ maxDevices: 0, maxCpuMillis: 0, maxMemoryMb: 0, maxDiskMb: 0 }, NONE, { cpuMillis: 0, memoryMb: 0, diskMb: 0 })).toMatchObject({ ok: false, dimension: "devices" });
  });
});

describe("quota store (Q1)", () => {
  let db: Db;
  let cleanup: () => void;
  const SPEC = { cpuMillis: 1_000, memoryMb: 1_024, diskMb: 5_000, width: 720, height: 1280, dpi: 320, fps: 30 };
  beforeEach(() => {
    ({ db, cleanup } = tempDb());
    db.prepare("INSERT INTO users (id, email, role, created_at, updated_at) VALUES ('u1', 'u1@x.io', 'user', 0, 0)").run();
    enrollTestHost(db);
    db.prepare("UPDATE hosts SET status = 'online'").run();
  });
  afterEach(() => cleanup());

  it("a plan's quota raises the buyer's limits dimension by dimension, never lowers them, never overrides an operator", () => {
    expect(grantPlanQuota(db, "u1", { ...LIMITS, maxDevices: LIMITS.maxDevices + 3, maxDiskMb: 1 }, LIMITS)).toBe(true);
    expect(quotaLimits(db, "u1", LIMITS)).toEqual({ ...LIMITS, maxDevices: LIMITS.maxDevices + 3, source: "plan" });
    // A smaller plan changes nothing.
    expect(grantPlanQuota(db, "u1", { maxDevices: 1, maxCpuMillis: 1, maxMemoryMb: 1, maxDiskMb: 1 }, LIMITS)).toBe(false);
    setQuota(db, "u1", { ...LIMITS, maxDevices: 2 }, "admin");
    expect(grantPlanQuota(db, "u1", { ...LIMITS, maxDevices: 50 }, LIMITS)).toBe(false);
    expect(quotaLimits(db, "u1", LIMITS)).toEqual({ ...LIMITS, maxDevices: 2, source: "admin" });
  });

  it("uses the platform default until the user has their own limits, then theirs", () => {
    expect(quotaLimits(db, "u1", LIMITS)).toEqual({ ...LIMITS, source: "default" });
    setQuota(db, "u1", { ...LIMITS, maxDevices: 9 }, "plan");
    setQuota(db, "u1", { ...LIMITS, maxDevices: 7 }, "admin");
    expect(quotaLimits(db, "u1", LIMITS)).toEqual({ ...LIMITS, maxDevices: 7, source: "admin" });
  });

  it("keeps usage exact as devices come and go, and enforces it in createDevice", () => {
    const create = () => createDevice(db, { ...SPEC, ownerId: "u1" }, undefined, Date.now(), { quotaDefaults: LIMITS });
    const a = create();
    const b = create();
    expect(a.ok && b.ok).toBe(true);
    expect(quotaUsage(db, "u1")).toEqual({ devices: 2, cpuMillis: 2_000, memoryMb: 2_048, diskMb: 10_000 });
    expect(create()).toMatchObject({ ok: false, code: "quota_exceeded" });
    // Asking to delete frees the quota at once (the host keeps the resources until the agent confirms).
    if (!a.ok) throw new Error("unreachable");
    db.prepare("UPDATE devices SET desired = 'deleted' WHERE id = ?").run(a.device.id);
    expect(quotaUsage(db, "u1").devices).toBe(1);
    expect(create().ok).toBe(true);
    expect(quotaView(db, "u1", LIMITS)).toEqual({ limits: { ...LIMITS, source: "default" }, usage: { devices: 2, cpuMillis: 2_000, memoryMb: 2_048, diskMb: 10_000 } });
  });
});
