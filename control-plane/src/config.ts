import { readFileSync } from "node:fs";
import { z } from "zod";

/**
 * Configuration keys in camelCase (as used in `--config file.json`); the environment variable of each key is
 * `CLOUDPHONE_CP_` + the key in UPPER_SNAKE_CASE (e.g. `httpPort` → `CLOUDPHONE_CP_HTTP_PORT`). Env wins over file.
 */
const Port = z.coerce.number({ error: "must be a number" }).int("must be an integer").min(0, "must be 0-65535").max(65535, "must be 0-65535");
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

const KEYS: readonly ConfigKey[] = [
  "httpHost", "httpPort", "dataDir", "adminToken", "mqttMode", "mqttHost", "mqttPort", "mqttUrl",
  "mqttUsername", "mqttPassword", "mqttPublicUrl", "commandResendMs", "sqliteSynchronous", "logLevel",
];

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
