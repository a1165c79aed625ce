#!/usr/bin/env node
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createAdaptorServer } from "@hono/node-server";
import type { Logger } from "pino";
import { ConfigError, loadConfig, parseConfigObject, publicMqttUrl, type Config, type ConfigInput } from "./config.js";
import { createLogger } from "./log.js";
import { openDatabase } from "./store/db.js";
import { resolveAdminToken } from "./hosts/admin-token.js";
import { authenticateMqtt } from "./hosts/credentials.js";
import { Inbox } from "./inbox/inbox.js";
import { CommandPublisher } from "./devices/publisher.js";
import type { Bus } from "./mqtt/bus.js";
import { startEmbeddedBroker } from "./mqtt/embedded.js";
import { connectExternalBroker } from "./mqtt/external.js";
import { createApp } from "./http/app.js";
import { Ledger } from "./billing/ledger.js";
import { createBillingService } from "./billing/service.js";
import { Metrics } from "./metrics/metrics.js";
import { Notifier } from "./notify/notifier.js";
import { createSagaRunner } from "./orders/runner.js";
import { createPlatformRelay } from "./platform/relay.js";
import type { Service } from "./platform/service.js";
import { ensureBootstrapAdmin } from "./users/bootstrap.js";
import { sweepApkStore } from "./apps/sweep.js";
import { RpcClient } from "./rpc/client.js";
import { Tunnels } from "./rpc/tunnels.js";
import { createWebSockets } from "./rpc/websocket.js";
import { registerRpcMetrics } from "./rpc/metrics.js";

export interface RunningControlPlane {
  httpPort: number;
  /** The embedded broker's bound port, or the external broker URL's port. */
  mqttPort: number | null;
  /** Admin token in effect (for in-process tests and benchmarks). */
  adminToken: string;
  close(): Promise<void>;
}

/** Starts the whole control plane in this process. Accepts a parsed `Config` or camelCase keys with defaults. */
export async function startControlPlane(input: ConfigInput | Config = {}, logger?: Logger): Promise<RunningControlPlane> {
  const config = parseConfigObject({ ...input });
  const log = logger ?? createLogger(config.logLevel);
  const db = openDatabase(join(config.dataDir, "control-plane.db"), { synchronous: config.sqliteSynchronous });
  const admin = resolveAdminToken(config.adminToken, config.dataDir);
  if (admin.source !== "config") log.info({ file: admin.file, generated: admin.source === "generated" }, "admin token is stored in file");

  ensureBootstrapAdmin(db, config, log);
  sweepApkStore(db, config, log);
  const notifier = new Notifier();
  const ledger = new Ledger(db, { lowBalanceThresholdMinor: config.lowBalanceThresholdMinor });
  const inbox = new Inbox(db, log);
  const metrics = new Metrics({ db, inboxStats: inbox.stats, notifier }, { processMetrics: true });
  const publisher = new CommandPublisher(db, log, config.commandResendMs);
  const resend = (hostId: string) =>
    void publisher.resendForHost(hostId).catch((e: unknown) => log.warn({ err: e, hostId }, "resend failed"));
  inbox.onHostOnline = resend;

  let bus: Bus | null = null;
  // Device RPC (A1): requests over MQTT, bulk data through tunnels the agents open back, WebSockets for duplex.
  const rpc = new RpcClient({ db, log, bus: () => bus });
  const tunnels = new Tunnels();
  const websockets = createWebSockets();
  registerRpcMetrics(metrics.registry, rpc, tunnels);
  const app = createApp({
    rpc,
    tunnels,
    upgradeWebSocket: websockets.upgradeWebSocket,
    db,
    log,
    config,
    adminToken: admin.token,
    inbox,
    publisher,
    ledger,
    notifier,
    metrics,
    bus: () => bus,
    mqttPublicUrl: () => publicMqttUrl(config, bus?.port ?? null),
  });

  try {
    bus =
      config.mqttMode === "embedded"
        ? await startEmbeddedBroker({
            host: config.mqttHost,
            port: config.mqttPort,
            log,
            authenticate: (u, p, clientId) => authenticateMqtt(db, u, p, clientId),
            ingest: inbox.ingest,
            counters: inbox.stats.acl,
            onHostSubscribed: resend,
            onRpcResponse: rpc.handleResponse,
          })
        : await connectExternalBroker({
            url: config.mqttUrl!,
            username: config.mqttUsername,
            password: config.mqttPassword,
            log,
            ingest: inbox.ingest,
            onRpcResponse: rpc.handleResponse,
          });
  } catch (e) {
    db.close();
    throw e;
  }
  publisher.attach(bus);
  publisher.start();
  const services: Service[] = [
    createPlatformRelay({ db, log, bus: () => bus, notifier, metrics }),
    createBillingService({ db, log, config, ledger, publisher, metrics }),
    createSagaRunner({ db, log, config, ledger, publisher, metrics }),
  ];
  for (const s of services) s.start();

  const server = createAdaptorServer({ fetch: app.fetch, hostname: config.httpHost, port: config.httpPort });
  websockets.inject(server, app);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.httpPort, config.httpHost, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (e) {
    for (const s of services) await s.stop();
    publisher.stop();
    await bus.close();
    db.close();
    throw e;
  }
  const httpPort = (server.address() as AddressInfo).port;
  const mqttPort = bus.port;
  log.info({ httpPort, mqttPort, mqttMode: config.mqttMode, dataDir: config.dataDir }, "control plane ready");

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const s of [...services].reverse()) await s.stop();
      publisher.stop();
      rpc.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // node:http keeps idle keep-alive sockets open; drop them so close() completes.
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      // Closing the broker publishes the hosts' Wills, which are still ingested into the open database.
      await bus!.close();
      inbox.close();
      db.close();
      log.info("control plane stopped");
    })();
    return closing;
  };
  return { httpPort, mqttPort, adminToken: admin.token, close };
}

async function runAsScript(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env, process.argv.slice(2));
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`cloudphone control plane: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(config.logLevel);
  let cp: RunningControlPlane;
  try {
    cp = await startControlPlane(config, log);
  } catch (e) {
    log.fatal({ err: e }, "control plane failed to start");
    process.exit(1);
  }
  const shutdown = (signal: string) => {
    log.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    cp.close().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: e }, "error during shutdown");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void runAsScript();
}
