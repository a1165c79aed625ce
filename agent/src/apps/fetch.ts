import type { Readable } from "node:stream";
import { nodeStream, type ApkRef, type ApkSource } from "./cache.js";

export interface FetchOptions {
  controlPlaneUrl: string;
  /** The host's enrollment credential (MQTT username and password), sent as HTTP Basic. */
  username: string;
  password: string;
  /** Until the response headers arrive. */
  timeoutMs: number;
}

/** An HTTP answer that no retry will change (4xx other than 408/429). */
export class DownloadRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DownloadRefusedError";
  }
}

/**
 * `GET {controlPlaneUrl}/api/apps/:id/download` with the host's Basic credential. One attempt: the cache retries
 * the whole download (a GET of immutable content is idempotent) unless it throws DownloadRefusedError.
 */
export function controlPlaneApkSource(o: FetchOptions): ApkSource {
  const auth = `Basic ${Buffer.from(`${o.username}:${o.password}`, "utf8").toString("base64")}`;
  const base = o.controlPlaneUrl.replace(/\/+$/, "");
  return async (app: ApkRef, signal: AbortSignal): Promise<Readable> => {
    const url = `${base}/api/apps/${encodeURIComponent(app.id)}/download`;
    const res = await fetch(url, { headers: { authorization: auth }, signal: AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs)]) });
    if (res.ok && res.body) return nodeStream(res.body);
    const text = (await res.text().catch(() => "")).slice(0, 300);
    const msg = `download of APK ${app.id} answered ${res.status}${text ? `: ${text}` : ""}`;
    if (res.status >= 500 || res.status === 408 || res.status === 429) throw new Error(msg);
    throw new DownloadRefusedError(msg);
  };
}
