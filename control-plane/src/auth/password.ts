import { randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from "node:crypto";

/**
 * Password hashing with scrypt (memory-hard). Encoded as `scrypt$N$r$p$<salt b64url>$<hash b64url>` so the
 * parameters can be raised later without breaking stored hashes. Hashing runs on the libuv thread pool
 * (async `crypto.scrypt`), never on the event loop.
 */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/**
 * N=2^14, r=8, p=1: 16 MiB and ~40 ms per hash on one core. Stronger settings (OWASP suggests N=2^17) cost 128 MiB
 * per concurrent login on a control plane that also runs the broker; raise here and `needsRehash` upgrades hashes.
 */
export const DEFAULT_PARAMS: ScryptParams = { N: 16384, r: 8, p: 1 };
const KEY_LEN = 32;
const SALT_LEN = 16;
// Hard ceilings on what a stored hash may ask for, so a tampered row cannot make us allocate gigabytes.
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;

function options(p: ScryptParams): ScryptOptions {
  // scrypt needs 128 * N * r bytes; leave headroom above Node's 32 MiB default.
  return { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + 1024 * 1024 };
}

function derive(password: string, salt: Buffer, p: ScryptParams, keyLen: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, keyLen, options(p), (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function encode(p: ScryptParams, salt: Buffer, key: Buffer): string {
  return `scrypt$${p.N}$${p.r}$${p.p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_LEN);
  return encode(params, salt, await derive(password, salt, params, KEY_LEN));
}

/** Synchronous variant, for start-up only (the bootstrap admin), where nothing else is waiting on the loop. */
export function hashPasswordSync(password: string, params: ScryptParams = DEFAULT_PARAMS): string {
  const salt = randomBytes(SALT_LEN);
  return encode(params, salt, scryptSync(password.normalize("NFC"), salt, KEY_LEN, options(params)));
}

interface Decoded {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

export function decodeHash(encoded: string): Decoded | null {
  const parts = encoded.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return null;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const isPow2 = Number.isInteger(N) && N > 1 && (N & (N - 1)) === 0;
  if (!isPow2 || N > MAX_N || !Number.isInteger(r) || r < 1 || r > MAX_R || !Number.isInteger(p) || p < 1 || p > MAX_P) return null;
  const salt = Buffer.from(parts[4]!, "base64url");
  const key = Buffer.from(parts[5]!, "base64url");
  if (salt.length < 8 || key.length < 16) return null;
  return { params: { N, r, p }, salt, key };
}

/** A fixed hash to verify against when there is no real one (unknown email, account without password). */
export const DUMMY_HASH = encode(DEFAULT_PARAMS, Buffer.alloc(SALT_LEN, 7), Buffer.alloc(KEY_LEN, 7));

/**
 * Constant-time check of `password` against an encoded hash. With `null` (no such user, no password set) it
 * still runs scrypt against a dummy hash with the default parameters, so the answer takes the same time.
 */
export async function verifyPassword(password: string, encoded: string | null): Promise<boolean> {
  const real = encoded === null ? null : decodeHash(encoded);
  const d = real ?? decodeHash(DUMMY_HASH)!;
  const key = await derive(password, d.salt, d.params, d.key.length);
  return timingSafeEqual(key, d.key) && real !== null;
}

/** Whether a stored hash uses weaker parameters than the current default (rehash on next successful login). */
export function needsRehash(encoded: string, params: ScryptParams = DEFAULT_PARAMS): boolean {
  const d = decodeHash(encoded);
  return !d || d.params.N < params.N || d.params.r < params.r || d.params.p < params.p;
}
