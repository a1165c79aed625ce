import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../store/db.js";
import { enrollTestHost, tempDb } from "../testing/fixtures.js";
import { applyDeviceAction, createDevice, listDevices, listDevicesJson } from "./registry.js";

let db: Db;
let cleanup: () => void;
beforeEach(() => {
  ({ db, cleanup } = tempDb());
  enrollTestHost(db, { cpuMillis: 1_000_000, memoryMb: 1_000_000, diskMb: 10_000_000, deviceSlots: 100 });
  db.prepare("UPDATE hosts SET status = 'online'").run();
});
afterEach(() => cleanup());

const req = (ownerId?: string) => ({
  cpuMillis: 100, memoryMb: 256, diskMb: 256, width: 720, height: 1280, dpi: 320, fps: 30, ...(ownerId ? { ownerId } : {}),
});

describe("listDevicesJson", () => {
  it("is exactly the JSON of listDevices for every filter, including empty results and JSON columns", () => {
    expect(JSON.parse(listDevicesJson(db, { includeDeleted: false }))).toEqual({ devices: [] });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = createDevice(db, { ...req(i % 3 === 0 ? "alice" : "bob"), ...(i === 4 ? { name: 'quote " and \\\\ backslash' } : {}) }, undefined, 1000 + (i % 4));
      if (!r.ok) throw new Error(r.message);
      ids.push(r.device.id);
    }
    db.prepare("UPDATE devices SET state = 'running', state_detail = ? WHERE id = ?").run(JSON.stringify({ since: 5, adb: { host: "127.0.0.1", port: 5555 } }), ids[1]);
    expect(applyDeviceAction(db, ids[2]!, "delete", undefined).ok).toBe(true);
    db.prepare("UPDATE devices SET deleted_at = 2000 WHERE id = ?").run(ids[2]);
    const hostId = (db.prepare("SELECT id FROM hosts").pluck().get() as string);
    for (const f of [
      { includeDeleted: false },
      { includeDeleted: true },
      { includeDeleted: false, ownerId: "alice" },
      { includeDeleted: true, ownerId: "bob", hostId },
      { includeDeleted: false, ownerId: "nobody" },
    ]) {
      expect(JSON.parse(listDevicesJson(db, f)), JSON.stringify(f)).toEqual({ devices: listDevices(db, f) });
    }
    expect(listDevices(db, { includeDeleted: true })).toHaveLength(12);
  });
});
