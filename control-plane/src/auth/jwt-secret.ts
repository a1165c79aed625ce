import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newSecret } from "@cloudphone/shared-protocol";
import type { Config } from "../config.js";

export interface JwtSecretSource {
  secret: string;
  source: "config" | "generated" | "file";
  file?: string;
}

const cache = new WeakMap<Config, JwtSecretSource>();

/**
 * The HS256 signing key: `jwtSecret` from the configuration, else `<dataDir>/jwt-secret`, generated (mode 0600) on
 * first use. The key is the UTF-8 bytes of the stored string. Cached per config object: read once per process.
 */
export function resolveJwtSecret(config: Config): JwtSecretSource {
  const hit = cache.get(config);
  if (hit) return hit;
  const r = load(config);
  cache.set(config, r);
  return r;
}

function load(config: Config): JwtSecretSource {
  if (config.jwtSecret) return { secret: config.jwtSecret, source: "config" };
  const file = join(config.dataDir, "jwt-secret");
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    try {
      writeFileSync(file, newSecret(48) + "\n", { mode: 0o600, flag: "wx" });
      return { secret: readSecret(file), source: "generated", file };
    } catch (e) {
      // Another process created it first: use theirs.
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  return { secret: readSecret(file), source: "file", file };
}

function readSecret(file: string): string {
  const secret = readFileSync(file, "utf8").trim();
  if (secret.length < 32) throw new Error(`${file}: stored JWT secret is shorter than 32 characters`);
  return secret;
}
