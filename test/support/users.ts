/** HTTP helpers for tests acting as platform users (register, call with a bearer token, recharge). */
import { expect } from "vitest";

export interface Reply<T> {
  status: number;
  body: T;
}

/** One JSON request with a bearer token; the reply body parsed (an empty body is `{}`). */
export async function callAs<T = Record<string, unknown>>(
  baseUrl: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Reply<T>> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
}

export interface TestUser {
  token: string;
  id: string;
}

/** Registers a fresh user (unique email) and, when `balanceMinor` > 0, tops up their balance. */
export async function registerUser(baseUrl: string, name: string, balanceMinor = 0): Promise<TestUser> {
  const res = await fetch(`${baseUrl}/api/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.test`, password: "correct horse battery staple" }),
  });
  expect(res.status).toBe(201);
  const session = (await res.json()) as { accessToken: string; user: { id: string } };
  if (balanceMinor > 0) {
    const r = await callAs(baseUrl, session.accessToken, "POST", "/api/billing/recharge", { amountMinor: balanceMinor, idempotencyKey: `start-${name}` });
    expect(r.status).toBe(201);
  }
  return { token: session.accessToken, id: session.user.id };
}
