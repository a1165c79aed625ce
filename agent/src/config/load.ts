import { readFileSync } from "node:fs";
import { AgentConfigSchema, ENV_KEYS, type AgentConfig, type EnvKey } from "./schema.js";

export const ENV_PREFIX = "CLOUDPHONE_AGENT_";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** `runtime.networkMode` → `CLOUDPHONE_AGENT_RUNTIME_NETWORK_MODE`. */
export function envVarName(path: string): string {
  return ENV_PREFIX + path.split(".").map((seg) => seg.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()).join("_");
}

type Plain = Record<string, unknown>;

function coerce(key: EnvKey, raw: string, varName: string): unknown {
  const kind = ENV_KEYS[key];
  if (kind === "string") return raw;
  if (kind === "number") {
    if (!/^-?\d+(\.\d+)?$/.test(raw.trim())) throw new ConfigError(`${key} (env ${varName}): expected a number, got ${JSON.stringify(raw)}`);
    return Number(raw);
  }
  if (kind === "boolean") {
    const v = raw.trim().toLowerCase();
    if (v === "true" || v === "1") return true;
    if (v === "false" || v === "0") return false;
    throw new ConfigError(`${key} (env ${varName}): expected true or false, got ${JSON.stringify(raw)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${key} (env ${varName}): expected a JSON array, got ${JSON.stringify(raw)}`);
  }
  if (!Array.isArray(parsed)) throw new ConfigError(`${key} (env ${varName}): expected a JSON array`);
  return parsed;
}

function setPath(target: Plain, path: string, value: unknown): void {
  const segs = path.split(".");
  let cur = target;
  for (const seg of segs.slice(0, -1)) {
    const next = cur[seg];
    if (typeof next !== "object" || next === null || Array.isArray(next)) cur[seg] = {};
    cur = cur[seg] as Plain;
  }
  cur[segs[segs.length - 1]!] = value;
}

export interface LoadedConfig {
  config: AgentConfig;
  /** Non-fatal findings, e.g. a CLOUDPHONE_AGENT_* variable that matches no key. */
  warnings: string[];
}

/**
 * Merges the JSON file (may be absent when `filePath` is undefined) with CLOUDPHONE_AGENT_* overrides and
 * validates the result. Every error names the key and where its value came from.
 */
export function resolveConfig(fileData: unknown, fileLabel: string, env: NodeJS.ProcessEnv): LoadedConfig {
  if (typeof fileData !== "object" || fileData === null || Array.isArray(fileData)) {
    throw new ConfigError(`${fileLabel}: the configuration must be a JSON object`);
  }
  const merged = structuredClone(fileData) as Plain;
  const fromEnv = new Map<string, string>();
  const known = new Map<string, EnvKey>();
  for (const key of Object.keys(ENV_KEYS) as EnvKey[]) known.set(envVarName(key), key);
  const warnings: string[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const key = known.get(name);
    if (!key) {
      warnings.push(`environment variable ${name} matches no configuration key; ignored`);
      continue;
    }
    setPath(merged, key, coerce(key, raw, name));
    fromEnv.set(key, name);
  }
  const parsed = AgentConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      // Unknown keys are reported on the parent object; name them individually.
      const base = issue.path.map(String).join(".");
      const keys = issue.code === "unrecognized_keys" ? issue.keys.map((k) => (base ? `${base}.${k}` : k)) : [base || "(root)"];
      return keys
        .map((k) => {
          const source = fromEnv.has(k) ? `env ${fromEnv.get(k)}` : fileLabel;
          const msg = issue.code === "unrecognized_keys" ? "unknown key" : issue.message;
          return `${k} (${source}): ${msg}`;
        })
        .join("; ");
    });
    throw new ConfigError(`invalid configuration: ${lines.join("; ")}`);
  }
  return { config: parsed.data, warnings };
}

export function loadConfigFile(filePath: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(filePath, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config file ${filePath}: ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${filePath} is not valid JSON: ${(e as Error).message}`);
  }
  return resolveConfig(data, `file ${filePath}`, env);
}
