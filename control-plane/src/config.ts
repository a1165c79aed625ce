import { readFileSync } from "node:fs";
import { IceServer } from "@cloudphone/shared-protocol";
import { z } from "zod";

/**
 * Configuration keys in camelCase (as used in `--config file.json`); the environment variable of each key is
 * `CLOUDPHONE_CP_` + the key in UPPER_SNAKE_CASE (e.g. `httpPort` → `CLOUDPHONE_CP_HTTP_PORT`). Env wins over file.
 */
const Port = z.coerce.number({ error: "must be a number" }).int("must be an integer").min(0, "must be 0-65535").max(65535, "must be 0-65535");
const Int = (min: number, max: number) =>
  z.coerce.number({ error: "must be a number" }).int("must be an integer").min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
const Bool = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")], { error: "must be true or false" });
const MqttUrl = z
  .string()
  .url("must be a URL such as mqtt://127.0.0.1:1883")
  .refine((u) => /^(mqtt|mqtts|ws|wss|tcp|ssl):\/\//.test(u), "must use mqtt://, mqtts://, ws:// or wss://");

export const ConfigSchema = z
  .object({
    httpHost: z.string().min(1).default("127.0.0.1"),
    httpPort: Port.default(8080),
    dataDir: z.string().min(1).default("./.data/control-plane"),
    adminToken: z.string().min(16, "must be at least 16 characters").max(512).optional(),
    mqttMode: z.enum(["embedded", "external"]).default("embedded"),
    mqttHost: z.string().min(1).default("127.0.0.1"),
    mqttPort: Port.default(1883),
    mqttUrl: MqttUrl.optional(),
    mqttUsername: z.string().min(1).optional(),
    mqttPassword: z.string().min(1).optional(),
    mqttPublicUrl: MqttUrl.optional(),
    commandResendMs: z.coerce.number({ error: "must be a number" }).int("must be an integer").min(100, "must be at least 100").max(3_600_000).default(10_000),
    sqliteSynchronous: z.enum(["FULL", "NORMAL"]).default("FULL"),
    // Users and sessions (U1).
    jwtSecret: z.string().min(32, "must be at least 32 characters").max(512).optional(),
    accessTokenTtlSeconds: Int(30, 86_400).default(900),
    refreshTokenTtlSeconds: Int(60, 365 * 86_400).default(30 * 86_400),
    loginMaxFailures: Int(1, 1000).default(5),
    loginLockoutSeconds: Int(1, 86_400).default(900),
    bootstrapAdminEmail: z.string().email("must be an email address").default("admin@cloudphone.local"),
    bootstrapAdminPassword: z.string().min(12, "must be at least 12 characters").max(256).optional(),
    /** Requests per minute per user (or per client address before authentication). */
    rateLimitPerMinute: Int(1, 1_000_000).default(1200),
    // Quota defaults for users without their own (Q1).
    defaultQuotaDevices: Int(0, 100_000).default(5),
    defaultQuotaCpuMillis: Int(0, 100_000_000).default(16_000),
    defaultQuotaMemoryMb: Int(0, 100_000_000).default(32_768),
    defaultQuotaDiskMb: Int(0, 1_000_000_000).default(262_144),
    // Billing (B1-B4).
    currency: z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as USD").default("USD"),
    selfRecharge: Bool.default(true),
    lowBalanceThresholdMinor: Int(0, 1_000_000_000_000).default(500),
    zeroBalanceGraceSeconds: Int(0, 30 * 86_400).default(300),
    billingIntervalMs: Int(100, 3_600_000).default(5_000),
    // Purchase saga (B2).
    sagaTimeoutMs: Int(1_000, 86_400_000).default(300_000),
    sagaRetryBaseMs: Int(10, 60_000).default(500),
    /** Resilience testing only: the process SIGKILLs itself right after persisting this saga step. */
    faultCrashAfterSagaStep: z.enum(["order_created", "device_allocated", "device_ready", "payment_taken", "activated"]).optional(),
    // APK library (A2).
    /** Largest APK `POST /api/apps` accepts, in bytes; a larger upload is refused with 413 as soon as it crosses this. */
    apkMaxBytes: Int(1024, 4 * 1024 ** 3).default(200 * 1024 ** 2),
    /** Content-addressed APK store (`<sha256>.apk`); `<dataDir>/apks` when unset. */
    appsDir: z.string().min(1).optional(),
    // Device file transfers (A1).
    /** Largest file `PUT /api/devices/:id/files` accepts: 413 before any byte is forwarded when Content-Length says so, else as soon as the stream crosses it. */
    filesMaxPushBytes: Int(1, 64 * 1024 ** 3).default(1024 ** 3),
    // Live screen (S3).
    /** STUN/TURN servers handed to agents with every viewer's offer (e.g. coturn); JSON array in the environment. */
    webrtcIceServers: z
      .preprocess((v) => {
        if (typeof v !== "string") return v;
        try {
          return JSON.parse(v) as unknown;
        } catch {
          return v;
        }
      }, z.array(IceServer, { error: "must be a JSON array of {urls, username?, credential?}" }).max(8))
      .default([]),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.mqttMode === "external" && !c.mqttUrl) {
      ctx.addIssue({ code: "custom", path: ["mqttUrl"], message: "is required when mqttMode is external" });
    }
  });

export type ConfigInput = z.input<typeof ConfigSchema>;
export type Config = z.output<typeof ConfigSchema>;
type ConfigKey = keyof z.output<typeof ConfigSchema>;

const KEYS = Object.keys(ConfigSchema.shape) as ConfigKey[];

export function envVarName(key: string): string {
  return "CLOUDPHONE_CP_" + key.replace(/([A-Z])/g, "_$1").toUpperCase();
}

/** A configuration error whose message names the offending variable or key; `main` exits with code 2. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Validates an already-merged camelCase object; `sourceOf` says where a key came from, for the message. */
export function parseConfigObject(input: Record<string, unknown>, sourceOf: (key: string) => string = (k) => k): Config {
  const r = ConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const msg = r.error.issues
    .map((i) => {
      const key = i.path.length ? String(i.path[0]) : "";
      if (i.code === "unrecognized_keys") return `unknown configuration key(s): ${i.keys.join(", ")}`;
      return `${sourceOf(key)}: ${i.message}`;
    })
    .join("; ");
  throw new ConfigError(`invalid configuration: ${msg}`);
}

/** Reads `--config <file>` from argv (if any) and the environment; env wins. */
export function loadConfig(env: NodeJS.ProcessEnv, argv: readonly string[]): Config {
  const fromFile = readConfigFile(argv);
  const merged: Record<string, unknown> = { ...fromFile };
  const fromEnv = new Set<string>();
  for (const key of KEYS) {
    const value = env[envVarName(key)];
    if (value !== undefined && value !== "") {
      merged[key] = value;
      fromEnv.add(key);
    }
  }
  return parseConfigObject(merged, (key) => {
    if (!key) return "configuration";
    if (!fromEnv.has(key) && key in fromFile) return `config file key ${key}`;
    return envVarName(key);
  });
}

function readConfigFile(argv: readonly string[]): Record<string, unknown> {
  const i = argv.indexOf("--config");
  const inline = argv.find((a) => a.startsWith("--config="));
  const path = inline ? inline.slice("--config=".length) : i >= 0 ? argv[i + 1] : undefined;
  if (i >= 0 && !path) throw new ConfigError("--config needs a file path");
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`--config ${path}: cannot read file: ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`--config ${path}: malformed JSON: ${(e as Error).message}`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw new ConfigError(`--config ${path}: must be a JSON object`);
  return data as Record<string, unknown>;
}

/** The broker URL handed to agents at enrollment. */
export function publicMqttUrl(config: Config, boundMqttPort: number | null): string {
  if (config.mqttPublicUrl) return config.mqttPublicUrl;
  if (config.mqttMode === "external") return config.mqttUrl!;
  return `mqtt://${config.mqttHost}:${boundMqttPort ?? config.mqttPort}`;
}
