import os from "node:os";
import { z } from "zod";
import { parsePortRange } from "../adb/ports.js";
import { PINNED_SCRCPY_VERSION } from "../stream/scrcpy/options.js";

const isLoopback = (h: string) => h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);

const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" });

/** Every key is optional except controlPlaneUrl; unknown keys are errors (strict objects). */
export const AgentConfigSchema = z.strictObject({
  controlPlaneUrl: httpUrl,
  dataDir: z.string().min(1).default("/var/lib/cloudphone-agent"),
  hostName: z.string().min(1).max(255).default(os.hostname()),
  docker: z.strictObject({ socketPath: z.string().min(1).default("/var/run/docker.sock") }).prefault({}),
  runtime: z
    .strictObject({
      image: z.string().min(1).default("redroid/redroid:12.0.0_64only-latest"),
      networkMode: z.enum(["bridge", "host"]).default("bridge"),
      privileged: z.boolean().default(true),
      extraBootArgs: z.array(z.string().min(1)).default([]),
      stopTimeoutSeconds: z.number().int().min(0).max(3600).default(10),
    })
    .prefault({}),
  capacity: z
    .strictObject({
      cpuMillis: z.number().int().min(0).max(1_024_000).default(os.cpus().length * 1000),
      memoryMb: z.number().int().min(0).max(16_777_216).default(Math.floor(os.totalmem() / 1048576)),
      diskMb: z.number().int().min(0).max(1_073_741_824).default(100_000),
      deviceSlots: z.number().int().min(0).max(100_000).default(8),
    })
    .prefault({}),
  localApi: z
    .strictObject({
      host: z.string().refine(isLoopback, "must be a loopback address (127.x.x.x, ::1 or localhost)").default("127.0.0.1"),
      port: z.number().int().min(0).max(65535).default(7070),
    })
    .prefault({}),
  mqtt: z
    .strictObject({
      url: z.url({ protocol: /^(mqtts?|wss?|tcp)$/, error: "must be an mqtt://, mqtts://, ws:// or wss:// URL" }).optional(),
      keepaliveSeconds: z.number().int().min(1).max(3600).default(30),
      reconnectPeriodMs: z.number().int().min(100).max(600_000).default(1000),
    })
    .prefault({}),
  reconcileIntervalMs: z.number().int().min(100).max(3_600_000).default(10_000),
  outbox: z
    .strictObject({
      maxInFlight: z.number().int().min(1).max(10_000).default(100),
      batchSize: z.number().int().min(1).max(10_000).default(200),
      retentionDays: z.number().min(0).max(3650).default(7),
      maxBackoffMs: z.number().int().min(10).max(86_400_000).default(30_000),
    })
    .prefault({}),
  recovery: z
    .strictObject({
      maxAttempts: z.number().int().min(0).max(100).default(3),
      backoffMs: z.number().int().min(0).max(3_600_000).default(2000),
    })
    .prefault({}),
  adb: z
    .strictObject({
      /**
       * Readiness and health through adb (D3). false: a running container counts as ready and there is no exec;
       * only for hosts without an adb server.
       */
      enabled: z.boolean().default(true),
      serverHost: z.string().refine(isLoopback, "must be a loopback address (the adb server has no authentication)").default("127.0.0.1"),
      serverPort: z.number().int().min(1).max(65535).default(5037),
      /** Started as `<bin> -P <serverPort> start-server` when the adb server refuses connections. */
      bin: z.string().min(1).default("adb"),
      /** Host network mode: each device's adbd port comes from this range (outside Linux's ephemeral ports). */
      portRange: z
        .string()
        .refine((v) => parsePortRange(v) !== null, "must be FROM-TO with 1024 <= FROM <= TO <= 65535, e.g. 20000-20999")
        .default("20000-20999"),
      bootTimeoutMs: z.number().int().min(1000).max(3_600_000).default(120_000),
      healthIntervalMs: z.number().int().min(100).max(3_600_000).default(10_000),
      /** Limit of each adb step of a probe or health check (connect, transport online, getprop). */
      commandTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
      /** Pause between readiness probes of a booting device (it grows to 2 s after a few probes). */
      probeIntervalMs: z.number().int().min(50).max(60_000).default(250),
      /** Reconnect attempts after a failed health check before the container is restarted (recovery). */
      maxReconnects: z.number().int().min(0).max(100).default(3),
      reconnectBackoffMs: z.number().int().min(0).max(600_000).default(1000),
      /** Output (stdout + stderr) an exec keeps; the rest is dropped and reported as truncated. */
      execMaxOutputBytes: z.number().int().min(1024).max(268_435_456).default(8 * 1024 * 1024),
    })
    .prefault({}),
  apps: z
    .strictObject({
      /** The APK cache (`<dataDir>/apk-cache`) is kept under this size, least recently used first. */
      cacheMaxBytes: z.number().int().min(0).max(1_099_511_627_776).default(2 * 1024 ** 3),
      /** Devices installing at the same time (each device runs its app jobs one at a time). */
      concurrency: z.number().int().min(1).max(256).default(8),
      /** One `pm install` / `pm uninstall`, including streaming the APK to the device. */
      installTimeoutMs: z.number().int().min(1000).max(3_600_000).default(300_000),
      /** Retries of an APK download that failed (network, 5xx); a digest mismatch is never retried. */
      downloadRetries: z.number().int().min(0).max(20).default(3),
      /** Attempts of a job whose adb step failed before it is reported as failed. */
      maxAttempts: z.number().int().min(1).max(20).default(3),
    })
    .prefault({}),
  shell: z
    .strictObject({
      /** An interactive shell with no traffic either way for this long is closed (WebSocket close 4408). */
      idleTimeoutMs: z.number().int().min(1000).max(86_400_000).default(15 * 60_000),
      /** Open interactive shells per device; one more is refused with `conflict`. */
      maxPerDevice: z.number().int().min(1).max(100).default(4),
    })
    .prefault({}),
  logcat: z
    .strictObject({
      /** Open live logcats per device; one more is refused with `conflict`. */
      maxPerDevice: z.number().int().min(1).max(100).default(4),
      /** Unsent bytes on a viewer's socket beyond which live lines are dropped (and the viewer told how many). */
      maxBufferedBytes: z.number().int().min(16_384).max(268_435_456).default(1024 * 1024),
    })
    .prefault({}),
  recording: z
    .strictObject({
      /** Finished recordings (`<dataDir>/recordings/<id>.mp4`) and their rows are deleted after this many days. */
      retentionDays: z.number().min(0).max(3650).default(7),
    })
    .prefault({}),
  stream: z
    .strictObject({
      /** Live screen source: scrcpy (input too), screenrecord (video only), auto (scrcpy, else screenrecord). */
      source: z.enum(["scrcpy", "screenrecord", "auto"]).default("auto"),
      /** The scrcpy server file on this phone server (pushed to each device when its copy differs). */
      scrcpyServerPath: z.string().min(1).default("/opt/cloudphone-agent/scrcpy-server"),
      /** The server file's exact version (the server refuses any other); 4.x and 3.x framings are supported. */
      scrcpyVersion: z.string().regex(/^[234]\.\d+(\.\d+)?$/, "must be a scrcpy 2.x, 3.x or 4.x version such as 4.1 or 3.3.4").default(PINNED_SCRCPY_VERSION),
      /** Long side of the video in pixels (0: the device's size). */
      maxSize: z.number().int().min(0).max(8192).default(1280),
      maxFps: z.number().int().min(1).max(120).default(30),
      bitRate: z.number().int().min(100_000).max(100_000_000).default(4_000_000),
      /** Input messages per second each viewer may send (touch moves included); more are refused. */
      inputRatePerSecond: z.number().int().min(1).max(10_000).default(200),
      /** A viewer that sends no ping for this long is closed. */
      heartbeatTimeoutMs: z.number().int().min(1000).max(600_000).default(5000),
      /** WebRTC UDP ports (FROM-TO) for firewalls; any free port when unset. */
      rtpPortRange: z
        .string()
        .refine((v) => parsePortRange(v) !== null, "must be FROM-TO with 1024 <= FROM <= TO <= 65535, e.g. 40000-40999")
        .optional(),
      /** Extra host ICE candidates: a public address of a 1:1 NAT, or 127.0.0.1 for viewers on this host (tests). */
      additionalHostAddresses: z.array(z.string().regex(/^[0-9a-fA-F.:]{2,45}$/, "must be an IP address")).max(8).default([]),
      /** Send RTP with the agent's own SRTP and one sendmsg per packet (false: werift's sender path, slower). */
      directRtp: z.boolean().default(true),
    })
    .prefault({}),
  metering: z
    .strictObject({
      /** Usage of running devices is reported this often; no usage record spans more than this. */
      intervalMs: z.number().int().min(1000).max(3_600_000).default(60_000),
    })
    .prefault({}),
  sqliteSynchronous: z.enum(["FULL", "NORMAL"]).default("FULL"),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type AgentConfig = z.infer<typeof AgentConfigSchema>;
/** What a caller (e.g. a test) may pass: the file shape, defaults filled by the schema. */
export type AgentConfigInput = z.input<typeof AgentConfigSchema>;

/** Leaf keys that can be set from the environment, with how their string value is coerced. */
export const ENV_KEYS = {
  controlPlaneUrl: "string",
  dataDir: "string",
  hostName: "string",
  "docker.socketPath": "string",
  "runtime.image": "string",
  "runtime.networkMode": "string",
  "runtime.privileged": "boolean",
  "runtime.extraBootArgs": "array",
  "runtime.stopTimeoutSeconds": "number",
  "capacity.cpuMillis": "number",
  "capacity.memoryMb": "number",
  "capacity.diskMb": "number",
  "capacity.deviceSlots": "number",
  "localApi.host": "string",
  "localApi.port": "number",
  "mqtt.url": "string",
  "mqtt.keepaliveSeconds": "number",
  "mqtt.reconnectPeriodMs": "number",
  reconcileIntervalMs: "number",
  "outbox.maxInFlight": "number",
  "outbox.batchSize": "number",
  "outbox.retentionDays": "number",
  "outbox.maxBackoffMs": "number",
  "recovery.maxAttempts": "number",
  "recovery.backoffMs": "number",
  "adb.enabled": "boolean",
  "adb.serverHost": "string",
  "adb.serverPort": "number",
  "adb.bin": "string",
  "adb.portRange": "string",
  "adb.bootTimeoutMs": "number",
  "adb.healthIntervalMs": "number",
  "adb.commandTimeoutMs": "number",
  "adb.probeIntervalMs": "number",
  "adb.maxReconnects": "number",
  "adb.reconnectBackoffMs": "number",
  "adb.execMaxOutputBytes": "number",
  "apps.cacheMaxBytes": "number",
  "apps.concurrency": "number",
  "apps.installTimeoutMs": "number",
  "apps.downloadRetries": "number",
  "apps.maxAttempts": "number",
  "shell.idleTimeoutMs": "number",
  "shell.maxPerDevice": "number",
  "logcat.maxPerDevice": "number",
  "logcat.maxBufferedBytes": "number",
  "recording.retentionDays": "number",
  "metering.intervalMs": "number",
  "stream.source": "string",
  "stream.scrcpyServerPath": "string",
  "stream.scrcpyVersion": "string",
  "stream.maxSize": "number",
  "stream.maxFps": "number",
  "stream.bitRate": "number",
  "stream.inputRatePerSecond": "number",
  "stream.heartbeatTimeoutMs": "number",
  "stream.rtpPortRange": "string",
  "stream.additionalHostAddresses": "array",
  "stream.directRtp": "boolean",
  sqliteSynchronous: "string",
  logLevel: "string",
} as const satisfies Record<string, "string" | "number" | "boolean" | "array">;

export type EnvKey = keyof typeof ENV_KEYS;
