import type { AdbClient } from "../adb/client.js";
import { adbRpcHandlers } from "../adb/rpc-handlers.js";
import type { DeviceRepo } from "../devices/repo.js";
import type { Credentials } from "../enroll/credentials.js";
import type { Logger } from "../log.js";
import { RpcDispatcher } from "./dispatcher.js";
import { HttpTunnelClient } from "./tunnel-client.js";
import type { RpcHandlers } from "./types.js";

export interface AgentRpcDeps {
  hostId: string;
  controlPlaneUrl: string;
  creds: Credentials;
  repo: DeviceRepo;
  adbClient: AdbClient | null;
  log: Logger;
  /** Sends one answer to `rpc/responses` (the MQTT link). */
  publish: (payload: string) => Promise<void>;
  /** Handlers of other layers (recording, shell, logcat, streaming), merged over the adb ones. */
  extraHandlers?: RpcHandlers;
}

/** The agent's RPC side: the adb handlers (when adb is enabled) plus `extraHandlers`, a tunnel client, the dispatcher. */
export function createAgentRpc(d: AgentRpcDeps): { dispatcher: RpcDispatcher; handlers: RpcHandlers } {
  const handlers: RpcHandlers = {
    ...(d.adbClient ? adbRpcHandlers({ client: d.adbClient, log: d.log }) : {}),
    ...(d.extraHandlers ?? {}),
  };
  const tunnels = new HttpTunnelClient({ controlPlaneUrl: d.controlPlaneUrl, username: d.creds.mqtt.username, password: d.creds.mqtt.password });
  const adb = d.adbClient;
  const dispatcher = new RpcDispatcher({
    hostId: d.hostId,
    repo: d.repo,
    handlers,
    tunnels,
    serialOf: (port) => (adb ? adb.serial(port) : null),
    send: (msg) => d.publish(JSON.stringify(msg)),
    log: d.log,
  });
  return { dispatcher, handlers };
}
