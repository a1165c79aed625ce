/** Uplink ingest: resolves only once the message is durably committed (or durably parked as rejected). */
export type IngestFn = (topic: string, payload: Buffer, senderHostId: string | null) => Promise<void>;

/**
 * A host's `rpc/responses` message, handed to the waiting caller (rpc/client.ts) instead of the inbox: an answer is
 * worth something only to whoever waits for it, so it is never stored. Must not throw.
 */
export type RpcResponseFn = (senderHostId: string, payload: Buffer) => void;

export interface PublishOptions {
  qos: 0 | 1;
  retain: boolean;
}

export interface BusHealth {
  ok: boolean;
  detail: string;
}

/** The one messaging interface the rest of the control plane uses, embedded broker or external client alike. */
export interface Bus {
  readonly mode: "embedded" | "external";
  /** Port of the embedded listener, or the external broker's port (null if the URL has none). */
  readonly port: number | null;
  publish(topic: string, payload: Buffer | string, options: PublishOptions): Promise<void>;
  ready(): boolean;
  health(): BusHealth;
  /** Drops a host's live connection (embedded mode only; an external broker must revoke it itself). */
  disconnectHost(hostId: string): boolean;
  close(): Promise<void>;
}

/** Counters for ACL refusals, exposed in inbox stats. */
export interface AclCounters {
  publishDenied: number;
  subscribeDenied: number;
  authFailed: number;
}
