import { registerAdbRoutes } from "./adb/api.js";
import { AdbClient } from "./adb/client.js";
import { AdbMonitor } from "./adb/monitor.js";
import { portIsFree } from "./adb/port-probe.js";
import { parsePortRange } from "./adb/ports.js";
import { AdbDeviceTracker } from "./adb/tracker.js";
import { AgentConfigSchema, type AgentConfig, type AgentConfigInput } from "./config/schema.js";
import { readCredentials } from "./enroll/credentials.js";
import { AGENT_VERSION, enroll } from "./enroll/enroll.js";
import { buildLocalApi, startLocalApi } from "./api/server.js";
import { DeviceRepo } from "./devices/repo.js";
import type { ObserveContext } from "./devices/observe.js";
import { createLogger, type Logger } from "./log.js";
import { Meter } from "./metering/meter.js";
import { MeterTicker } from "./metering/ticker.js";
import { Outbox } from "./outbox/outbox.js";
import { OutboxPump } from "./outbox/pump.js";
import { CAPACITY_EVENTS, ReconcileLoop } from "./reconcile/loop.js";
import { DockerRuntime } from "./runtime/docker.js";
import { DockerEventWatcher } from "./runtime/events.js";
import { openDatabase } from "./store/db.js";
import { MqttLink } from "./sync/link.js";
import { createAgentRpc } from "./rpc/wiring.js";
import { createRecordings } from "./recording/wiring.js";
import { createShellLogcatHandlers } from "./adb/rpc-shell-logcat.js";
import { createAppWorker } from "./apps/wiring.js";
import { createStreaming } from "./stream/session/wiring.js";

export interface RunningAgent {
  hostId: string;
  localApiPort: number;
  /** Graceful stop: pump, MQTT (explicit offline), API, DB. Devices keep running. */
  close(): Promise<void>;
}

export class NotEnrolledError extends Error {
  constructor(dataDir: string) {
    super(`not enrolled: no credentials in ${dataDir}; run "enroll --config <file> --token <token>" or pass --token to run`);
    this.name = "NotEnrolledError";
  }
}

const CLEANUP_INTERVAL_MS = 3_600_000;

/** Composition root: wires store, outbox, runtime, reconcile loop, MQTT link and local API. */
export async function startAgent(input: AgentConfigInput | AgentConfig, opts: { token?: string; logger?: Logger } = {}): Promise<RunningAgent> {
  const config = AgentConfigSchema.parse(input);
  const log = opts.logger ?? createLogger(config.logLevel);
  let creds = readCredentials(config.dataDir);
  if (!creds) {
    if (!opts.token) throw new NotEnrolledError(config.dataDir);
    creds = (await enroll(config, opts.token)).credentials;
    log.info({ hostId: creds.hostId }, "enrolled");
  }
  const hostId = creds.hostId;
  const startedAt = Date.now();

  const db = openDatabase({ dataDir: config.dataDir, synchronous: config.sqliteSynchronous });
  const outbox = new Outbox(db, { maxBackoffMs: config.outbox.maxBackoffMs, retentionDays: config.outbox.retentionDays });
  const repo = new DeviceRepo(db);
  const meter = new Meter(db, outbox, hostId, { maxRecordMs: config.metering.intervalMs });
  const ctx: ObserveContext = { db, repo, outbox, hostId, meter };
  const pump = new OutboxPump(outbox, { maxInFlight: config.outbox.maxInFlight, batchSize: config.outbox.batchSize }, log);
  const ticker = new MeterTicker(meter, { intervalMs: config.metering.intervalMs, onRecorded: () => pump.kick(), log });

  const runtime = new DockerRuntime(
    {
      hostId,
      socketPath: config.docker.socketPath,
      image: config.runtime.image,
      networkMode: config.runtime.networkMode,
      privileged: config.runtime.privileged,
      extraBootArgs: config.runtime.extraBootArgs,
      stopTimeoutSeconds: config.runtime.stopTimeoutSeconds,
    },
    log,
  );
  let dockerVersion: string | null = null;
  void runtime.version().then((v) => {
    dockerVersion = v;
    if (!v) log.warn({ socketPath: config.docker.socketPath }, "docker is not reachable; reconcile will keep retrying");
  });

  // The adb layer (A1, D3): readiness and health facts for the planner, exec for the API.
  const adb = config.adb;
  const adbClient = adb.enabled ? new AdbClient({ serverHost: adb.serverHost, serverPort: adb.serverPort, bin: adb.bin }) : null;
  const monitor = adbClient
    ? new AdbMonitor({
        client: adbClient,
        healthIntervalMs: adb.healthIntervalMs,
        probeIntervalMs: adb.probeIntervalMs,
        commandTimeoutMs: adb.commandTimeoutMs,
        maxReconnects: adb.maxReconnects,
        reconnectBackoffMs: adb.reconnectBackoffMs,
        onChange: (deviceId) => loop.trigger(deviceId),
        log,
      })
    : null;
  const tracker =
    adbClient && monitor
      ? new AdbDeviceTracker(adbClient, { onDeviceGone: (serial) => monitor.checkSerial(serial), onServerBack: () => monitor.checkAll() }, log)
      : null;
  if (adbClient) {
    void adbClient.version().then(
      (v) => log.info({ adbServer: `${adb.serverHost}:${adb.serverPort}`, protocol: v }, "adb server answers"),
      (e: Error) => log.warn({ adbServer: `${adb.serverHost}:${adb.serverPort}`, err: e.message }, "adb server not reachable; devices will not become ready until it is"),
    );
  }

  const apps = createAppWorker({ config, db, outbox, repo, hostId, creds, adbClient, onFinished: () => pump.kick(), log });

  // eslint-style forward reference: the link needs the loop (commands trigger reconcile) and vice versa.
  let link: MqttLink | null = null;
  // Interactive shells and live logcats (A1): sessions live on duplex tunnels once their RPC answered.
  const sessions = adbClient
    ? createShellLogcatHandlers({ server: { host: adb.serverHost, port: adb.serverPort }, openTimeoutMs: adb.commandTimeoutMs, shell: config.shell, logcat: config.logcat, log })
    : null;
  // Recording sessions (A3): recovers what an interrupted run left before any request arrives.
  const recordings = createRecordings({ config, db, outbox, repo, hostId, adbClient, onRecorded: () => pump.kick(), log });
  // Live screen (S1–S3): WebRTC viewers of a shared capture per device; `/metrics` on the local API.
  const streaming = createStreaming({ config, repo, adbClient, log });
  // Device RPC (A1): requests arrive on the link, answers go back on it, data through tunnels to the control plane.
  const rpc = createAgentRpc({
    hostId,
    controlPlaneUrl: config.controlPlaneUrl,
    creds,
    repo,
    adbClient,
    log,
    publish: (payload) => (link ? link.publishRpcResponse(payload) : Promise.reject(new Error("mqtt link not started"))),
    extraHandlers: { ...sessions?.handlers, ...recordings.handlers, ...streaming.handlers },
  });
  const loop = new ReconcileLoop({
    ctx,
    runtime,
    policy: { maxAttempts: config.recovery.maxAttempts, backoffMs: config.recovery.backoffMs },
    intervalMs: config.reconcileIntervalMs,
    log,
    onRecorded: (event) => {
      pump.kick();
      if (event && CAPACITY_EVENTS.has(event)) link?.publishCapacity();
    },
    ...(monitor ? { adb: { watcher: monitor, bootTimeoutMs: adb.bootTimeoutMs } } : {}),
    // Validated by the config schema.
    adbPorts: { range: parsePortRange(adb.portRange)!, isFree: portIsFree },
  });

  link = new MqttLink({
    ctx,
    pump,
    creds: { ...creds.mqtt, url: config.mqtt.url ?? creds.mqtt.url },
    keepaliveSeconds: config.mqtt.keepaliveSeconds,
    reconnectPeriodMs: config.mqtt.reconnectPeriodMs,
    capacity: config.capacity,
    agentVersion: AGENT_VERSION,
    hostname: config.hostName,
    startedAt,
    log,
    dockerVersion: () => dockerVersion,
    onRpcRequest: (payload) => void rpc.dispatcher.handle(Buffer.isBuffer(payload) ? payload : Buffer.from(payload)),
    onCommand: (deviceId) => {
      loop.trigger(deviceId);
      apps.kick();
    },
  });

  const events = new DockerEventWatcher(runtime.docker, hostId, (ev) => loop.trigger(ev.deviceId), log, () => loop.reconcileAll());

  const localApp = buildLocalApi({
    ctx,
    outbox,
    mqttConnected: () => link?.connected ?? false,
    reconcile: (id) => loop.trigger(id),
    kickPump: () => pump.kick(),
    log,
    extraRoutes: (app) => {
      registerAdbRoutes(app, { repo, client: adbClient, maxOutputBytes: adb.execMaxOutputBytes, log });
      streaming.registerRoutes(app);
    },
  });
  const api = await startLocalApi(localApp, config.localApi.host, config.localApi.port);

  link.start();
  tracker?.start();
  events.start();
  void loop.start();
  ticker.start();
  apps.start();
  recordings.start();
  streaming.start();
  const cleanupOnce = () => {
    try {
      const n = outbox.cleanup();
      if (n > 0) log.info({ removed: n }, "outbox cleanup");
    } catch (e) {
      log.error({ err: e }, "outbox cleanup failed");
    }
  };
  cleanupOnce();
  const cleanupTimer = setInterval(cleanupOnce, CLEANUP_INTERVAL_MS);
  cleanupTimer.unref();

  log.info({ hostId, localApiPort: api.port, mqttUrl: config.mqtt.url ?? creds.mqtt.url }, "agent ready");

  let closed: Promise<void> | null = null;
  return {
    hostId,
    localApiPort: api.port,
    close: () => {
      closed ??= (async () => {
        clearInterval(cleanupTimer);
        ticker.stop();
        await apps.stop();
        events.stop();
        await tracker?.stop();
        monitor?.stop(); // devices stay connected to the adb server
        await loop.stop(); // finishes in-progress operations; never stops devices
        rpc.dispatcher.close();
        recordings.close();
        streaming.close();
        sessions?.closeAll();
        await link?.close();
        await api.close();
        db.close();
        log.info({ hostId }, "agent stopped");
      })();
      return closed;
    },
  };
}
