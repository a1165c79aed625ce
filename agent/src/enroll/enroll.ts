import { EnrollResponse, ErrorBody, type EnrollRequest } from "@cloudphone/shared-protocol";
import pRetry, { AbortError } from "p-retry";
import type { AgentConfig } from "../config/schema.js";
import { readCredentials, writeCredentials, type Credentials } from "./credentials.js";

export const AGENT_VERSION = "0.1.0";

export class EnrollError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = "EnrollError";
  }
}

export interface EnrollOutcome {
  credentials: Credentials;
  alreadyEnrolled: boolean;
}

/**
 * Exchanges the one-time token for durable credentials. Already enrolled → returns the stored credentials
 * without calling the control plane. Retries only network errors and 5xx (the token is single-use, but a 5xx
 * means the server did not consume it, and the server refuses a reused token with a 4xx).
 */
export async function enroll(config: AgentConfig, token: string, opts: { retries?: number; fetchImpl?: typeof fetch } = {}): Promise<EnrollOutcome> {
  const existing = readCredentials(config.dataDir);
  if (existing) return { credentials: existing, alreadyEnrolled: true };
  const body: EnrollRequest = {
    token,
    hostname: config.hostName,
    agentVersion: AGENT_VERSION,
    capacity: { ...config.capacity },
  };
  const url = new URL("/api/hosts/enroll", config.controlPlaneUrl).toString();
  const doFetch = opts.fetchImpl ?? fetch;
  const json = await pRetry(
    async () => {
      let res: Response;
      try {
        res = await doFetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(15_000),
        });
      } catch (e) {
        throw new EnrollError(`cannot reach ${url}: ${(e as Error).message}`, "network_error");
      }
      const text = await res.text();
      let data: unknown = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch {
        data = null;
      }
      if (!res.ok) {
        const eb = ErrorBody.safeParse(data);
        const detail = eb.success ? `${eb.data.error.code}: ${eb.data.error.message}` : `HTTP ${res.status} ${text.slice(0, 200)}`;
        const err = new EnrollError(`enrollment refused (HTTP ${res.status}) ${detail}`, eb.success ? eb.data.error.code : `http_${res.status}`);
        if (res.status >= 500) throw err;
        throw new AbortError(err);
      }
      return data;
    },
    { retries: opts.retries ?? 4, minTimeout: 500, factor: 2, maxTimeout: 5000 },
  );
  const parsed = EnrollResponse.safeParse(json);
  if (!parsed.success) {
    throw new EnrollError(
      `control plane answered with an invalid enrollment response: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      "invalid_response",
    );
  }
  const credentials: Credentials = {
    hostId: parsed.data.hostId,
    mqtt: parsed.data.mqtt,
    controlPlaneUrl: config.controlPlaneUrl,
    enrolledAt: Date.now(),
  };
  writeCredentials(config.dataDir, credentials);
  return { credentials, alreadyEnrolled: false };
}
