import { describe, expect, it } from "vitest";
import { DeviceTickets, MAX_TICKETS_PER_USER, TICKET_PREFIX, TICKET_TTL_MS, TooManyTicketsError, isDeviceTicketRequest } from "./device-tickets.js";
import type { Principal } from "./principal.js";

const alice: Principal = { userId: "u-alice", role: "user", scopes: "all", via: "jwt" };
const bob: Principal = { userId: "u-bob", role: "user", scopes: "all", via: "jwt" };
const T0 = 1_700_000_000_000;

describe("DeviceTickets", () => {
  it("issues an opaque ticket valid 30 s that grants its purpose on its device once", () => {
    const t = new DeviceTickets();
    const { ticket, expiresAt } = t.issue(alice, "dev1", "shell", T0);
    expect(ticket.startsWith(TICKET_PREFIX)).toBe(true);
    expect(ticket.length).toBeGreaterThanOrEqual(TICKET_PREFIX.length + 43); // 32 random bytes, base64url
    expect(expiresAt).toBe(T0 + TICKET_TTL_MS);
    const r = t.redeem(ticket, "dev1", "shell", T0 + TICKET_TTL_MS - 1);
    expect(r).toEqual({ ok: true, grant: { principal: alice, deviceId: "dev1" } });
    expect(t.redeem(ticket, "dev1", "shell", T0 + 1)).toEqual({ ok: false, reason: "unknown" }); // single use
  });

  it("refuses an expired ticket", () => {
    const t = new DeviceTickets();
    const { ticket } = t.issue(alice, "dev1", "logcat", T0);
    expect(t.redeem(ticket, "dev1", "logcat", T0 + TICKET_TTL_MS)).toEqual({ ok: false, reason: "expired" });
  });

  it("refuses a ticket for another device or purpose, and burns it doing so", () => {
    const t = new DeviceTickets();
    const a = t.issue(alice, "dev1", "shell", T0).ticket;
    expect(t.redeem(a, "dev2", "shell", T0)).toEqual({ ok: false, reason: "wrong_device" });
    expect(t.redeem(a, "dev1", "shell", T0)).toEqual({ ok: false, reason: "unknown" });
    const b = t.issue(alice, "dev1", "logcat", T0).ticket;
    expect(t.redeem(b, "dev1", "shell", T0)).toEqual({ ok: false, reason: "wrong_purpose" });
    expect(t.redeem(b, "dev1", "logcat", T0)).toEqual({ ok: false, reason: "unknown" });
  });

  it("refuses unknown and forged tickets", () => {
    const t = new DeviceTickets();
    t.issue(alice, "dev1", "shell", T0);
    expect(t.redeem(`${TICKET_PREFIX}forged`, "dev1", "shell", T0)).toEqual({ ok: false, reason: "unknown" });
    expect(t.redeem("", "dev1", "shell", T0)).toEqual({ ok: false, reason: "unknown" });
  });

  it("keeps only a hash of each ticket", () => {
    const t = new DeviceTickets();
    const { ticket } = t.issue(alice, "dev1", "shell", T0);
    const stored = JSON.stringify([...(t as unknown as { byHash: Map<string, unknown> }).byHash.entries()]);
    expect(stored).not.toContain(ticket.slice(TICKET_PREFIX.length));
  });

  it("bounds the unused tickets per user and forgets expired ones", () => {
    const t = new DeviceTickets();
    for (let i = 0; i < MAX_TICKETS_PER_USER; i++) t.issue(alice, "dev1", "shell", T0);
    expect(() => t.issue(alice, "dev1", "shell", T0)).toThrow(TooManyTicketsError);
    expect(() => t.issue(bob, "dev9", "shell", T0)).not.toThrow(); // per user
    expect(t.size(T0)).toBe(MAX_TICKETS_PER_USER + 1);
    expect(t.size(T0 + TICKET_TTL_MS)).toBe(0);
    expect(() => t.issue(alice, "dev1", "shell", T0 + TICKET_TTL_MS)).not.toThrow();
  });
});

describe("isDeviceTicketRequest", () => {
  it("lets only ticket-bearing GETs of the device socket routes without Authorization past bearer auth", () => {
    expect(isDeviceTicketRequest("GET", "/api/devices/d1/shell", undefined, "cwt_x")).toBe(true);
    expect(isDeviceTicketRequest("GET", "/api/devices/d1/logcat", undefined, "cwt_x")).toBe(true);
    expect(isDeviceTicketRequest("GET", "/api/devices/d1/shell", "Bearer t", "cwt_x")).toBe(false);
    expect(isDeviceTicketRequest("GET", "/api/devices/d1/shell", undefined, undefined)).toBe(false);
    expect(isDeviceTicketRequest("POST", "/api/devices/d1/shell", undefined, "cwt_x")).toBe(false);
    expect(isDeviceTicketRequest("GET", "/api/devices/d1/exec", undefined, "cwt_x")).toBe(false);
    expect(isDeviceTicketRequest("GET", "/api/devices/d1/shell/x", undefined, "cwt_x")).toBe(false);
  });
});
