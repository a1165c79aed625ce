/**
 * Tiny typed client for the control plane's admin HTTP API (bearer admin token).
 * Device operations return `{status, body}` so tests can assert on status codes; list/creation helpers
 * whose only useful answer is the payload (token, hosts, events, credentials) return it directly and
 * throw, quoting the response, on an unexpected status.
 */
import type { ControlPlane } from "./processes.js";
import { waitFor } from "./wait.js";

export type Json = Record<string, unknown>;
export type DeviceAction = "start" | "stop" | "restart";

export interface ApiResponse<T = Json> {
  status: number;
  body: T;
  headers: Headers;
}

export interface HostView extends Json {
  id: string;
  status: string;
  capacity?: { cpuMillis?: number; memoryMb?: number; diskMb?: number; deviceSlots: number };
  lastSeenAt?: number | null;
}

export interface EventView extends Json {
  name: string;
  seq: number;
  msgId: string;
  ts: number;
}

export interface MqttCredential {
  username: string;
  password: string;
  access: "read" | "readwrite";
}

export class AdminApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  /**
   * Any request. `body` is sent as JSON, or as-is with `rawBody` (to test malformed input); `token: null`
   * sends no Authorization header. The answer is parsed as JSON when possible (else `{text}`).
   */
  async raw<T = Json>(
    method: string,
    path: string,
    body?: unknown,
    options: { rawBody?: boolean; token?: string | null } = {},
  ): Promise<ApiResponse<T>> {
    const token = options.token === undefined ? this.token : options.token;
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const payload = body === undefined ? undefined : options.rawBody ? String(body) : JSON.stringify(body);
    const response = await fetch(new URL(path, this.baseUrl), {
      method,
      headers,
      body: payload,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    let parsed: unknown = {};
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { text };
      }
    }
    return { status: response.status, body: parsed as T, headers: response.headers };
  }

  /** POST /api/enrollment-tokens → the one-time token string. */
  async createEnrollmentToken(body: { ttlSeconds?: number; note?: string } = {}): Promise<string> {
    const response = await this.expect<{ token: string }>("POST", "/api/enrollment-tokens", body, 201);
    return response.token;
  }

  /** GET /api/hosts → the hosts (bare array or `{hosts: [...]}` both accepted). */
  async listHosts(): Promise<HostView[]> {
    return itemsOf(await this.expect("GET", "/api/hosts", undefined, 200)) as HostView[];
  }

  createDevice(body: Json = {}): Promise<ApiResponse> {
    return this.raw("POST", "/api/devices", body);
  }

  /** Creates the smallest device (for `ownerId`, optionally on one host) and waits until it is running; its id. */
  async createRunningDevice(ownerId: string, opts: { hostId?: string; timeoutMs?: number } = {}): Promise<string> {
    const res = await this.createDevice({ cpuMillis: 100, memoryMb: 256, diskMb: 256, ownerId, ...(opts.hostId ? { hostId: opts.hostId } : {}) });
    if (res.status !== 201) throw new Error(`POST /api/devices answered ${res.status}: ${JSON.stringify(res.body)}`);
    const id = res.body.id as string;
    await waitFor(async () => ((await this.getDevice(id)).body.state === "running" ? true : undefined), { timeoutMs: opts.timeoutMs ?? 60_000, message: `${id} running` });
    return id;
  }

  getDevice(id: string): Promise<ApiResponse> {
    return this.raw("GET", `/api/devices/${encodeURIComponent(id)}`);
  }

  deviceAction(id: string, action: DeviceAction): Promise<ApiResponse> {
    return this.raw("POST", `/api/devices/${encodeURIComponent(id)}/${action}`);
  }

  deleteDevice(id: string): Promise<ApiResponse> {
    return this.raw("DELETE", `/api/devices/${encodeURIComponent(id)}`);
  }

  /** GET /api/events?hostId=&deviceId=… → `{events}` (a bare array is wrapped). */
  async listEvents(query: Record<string, string | number | undefined> = {}): Promise<{ events: EventView[] }> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const suffix = params.size > 0 ? `?${params.toString()}` : "";
    const body = await this.expect("GET", `/api/events${suffix}`, undefined, 200);
    return { events: itemsOf(body) as EventView[] };
  }

  /** POST /api/mqtt-credentials → `{username, password, access}` for an operator account. */
  createMqttCredential(username: string, access: MqttCredential["access"]): Promise<MqttCredential> {
    return this.expect<MqttCredential>("POST", "/api/mqtt-credentials", { username, access }, [200, 201]);
  }

  private async expect<T>(method: string, path: string, body: unknown, status: number | number[]): Promise<T> {
    const response = await this.raw<T>(method, path, body);
    const accepted = Array.isArray(status) ? status : [status];
    if (!accepted.includes(response.status)) {
      throw new Error(`${method} ${path}: expected ${accepted.join("/")}, got ${response.status} ${JSON.stringify(response.body)}`);
    }
    return response.body;
  }
}

/** The admin API of a started control plane. */
export function api(controlPlane: Pick<ControlPlane, "httpUrl" | "adminToken">): AdminApi {
  return new AdminApi(controlPlane.httpUrl, controlPlane.adminToken);
}

/** Lists may come bare or wrapped (`{hosts: [...]}`, `{events: [...]}`); tests want the array. */
export function itemsOf(body: unknown): Json[] {
  if (Array.isArray(body)) return body as Json[];
  if (typeof body === "object" && body !== null) {
    for (const value of Object.values(body)) if (Array.isArray(value)) return value as Json[];
  }
  return [];
}
