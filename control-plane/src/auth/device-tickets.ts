import { newSecret } from "@cloudphone/shared-protocol";
import { z } from "zod";
import { hashSecret } from "../hosts/secrets.js";
import type { Principal } from "./principal.js";

/**
 * Short-lived, single-use tickets for browser WebSockets (shell, logcat, and the screen stream of issue 5), which
 * cannot send an Authorization header. A ticket is bound to the user (as the principal that asked for it), one
 * device and one purpose; it lives 30 s and is consumed by the first presentation, matching or not, so a leaked
 * ticket is worth at most one refused attempt. Only its SHA-256 is kept.
 *
 * In memory: tickets outlive no restart (30 s), and one control plane serves the API.
 */

export const TicketPurpose = z.enum(["shell", "logcat", "stream"]);
export type TicketPurpose = z.infer<typeof TicketPurpose>;

export const TICKET_TTL_MS = 30_000;
export const TICKET_PREFIX = "cwt_";
/** Outstanding tickets per user; more is a client bug or abuse. */
export const MAX_TICKETS_PER_USER = 64;

export interface TicketGrant {
  /** The issuing principal as it was then; its role is re-read when the ticket is used. */
  principal: Principal;
  deviceId: string;
}

export type RedeemOutcome = { ok: true; grant: TicketGrant } | { ok: false; reason: "unknown" | "expired" | "wrong_device" | "wrong_purpose" };

interface Entry {
  principal: Principal;
  deviceId: string;
  purpose: TicketPurpose;
  expiresAt: number;
}

export class TooManyTicketsError extends Error {
  constructor() {
    super(`at most ${MAX_TICKETS_PER_USER} unused tickets per user`);
    this.name = "TooManyTicketsError";
  }
}

export class DeviceTickets {
  private readonly byHash = new Map<string, Entry>();

  constructor(private readonly ttlMs = TICKET_TTL_MS) {}

  issue(principal: Principal, deviceId: string, purpose: TicketPurpose, now = Date.now()): { ticket: string; expiresAt: number } {
    this.sweep(now);
    let mine = 0;
    for (const e of this.byHash.values()) if (e.principal.userId === principal.userId) mine++;
    if (mine >= MAX_TICKETS_PER_USER) throw new TooManyTicketsError();
    const ticket = `${TICKET_PREFIX}${newSecret(32)}`;
    const expiresAt = now + this.ttlMs;
    this.byHash.set(hashSecret(ticket), { principal, deviceId, purpose, expiresAt });
    return { ticket, expiresAt };
  }

  /** Consumes the ticket (whatever the outcome) and says whether it grants `purpose` on `deviceId` now. */
  redeem(ticket: string, deviceId: string, purpose: TicketPurpose, now = Date.now()): RedeemOutcome {
    const key = hashSecret(ticket);
    const e = this.byHash.get(key);
    if (!e) return { ok: false, reason: "unknown" };
    this.byHash.delete(key);
    if (e.expiresAt <= now) return { ok: false, reason: "expired" };
    if (e.deviceId !== deviceId) return { ok: false, reason: "wrong_device" };
    if (e.purpose !== purpose) return { ok: false, reason: "wrong_purpose" };
    return { ok: true, grant: { principal: e.principal, deviceId: e.deviceId } };
  }

  /** Unused, unexpired tickets (for tests). */
  size(now = Date.now()): number {
    this.sweep(now);
    return this.byHash.size;
  }

  private sweep(now: number): void {
    for (const [k, e] of this.byHash) if (e.expiresAt <= now) this.byHash.delete(k);
  }
}

const TICKET_PATH = /^\/api\/devices\/[^/]+\/(?:shell|logcat)$/;

/**
 * Auth middleware hook: a WebSocket route request that carries `?ticket=` and no Authorization header is left to the
 * route, which redeems the ticket (and answers 401 itself when it is missing or refused).
 */
export function isDeviceTicketRequest(method: string, path: string, authorization: string | undefined, ticket: string | undefined): boolean {
  return method === "GET" && authorization === undefined && ticket !== undefined && TICKET_PATH.test(path);
}
