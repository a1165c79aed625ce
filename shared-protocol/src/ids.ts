import { randomBytes } from "node:crypto";

/**
 * Time-ordered, URL-safe unique ids (48-bit ms timestamp + 80 random bits, base32hex-like), so that ids sort
 * roughly by creation time in indexes and logs. 26 characters.
 */
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
export function newId(now = Date.now()): string {
  let out = "";
  let t = now;
  for (let i = 9; i >= 0; i--) {
    out = ALPHABET[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  const rnd = randomBytes(16);
  for (let i = 0; i < 16; i++) out += ALPHABET[rnd[i]! % 32];
  return out;
}

/** A high-entropy secret for tokens and passwords (base64url, 32 bytes). */
export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}
