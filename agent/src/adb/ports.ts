/** adbd port allocation for host network mode. Pure: the caller supplies the taken ports and the randomness. */

export interface PortRange {
  from: number;
  to: number;
}

/** "20000-20999" → {from: 20000, to: 20999}; null when malformed or out of 1024..65535 or empty. */
export function parsePortRange(text: string): PortRange | null {
  const m = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(text);
  if (!m) return null;
  const from = Number(m[1]);
  const to = Number(m[2]);
  if (from < 1024 || to > 65535 || from > to) return null;
  return { from, to };
}

export function formatPortRange(r: PortRange): string {
  return `${r.from}-${r.to}`;
}

/**
 * A port of `range` not in `taken`, or null when none is left. Starts at a random offset (`random` in [0,1)) and
 * walks up, wrapping around: a port freed a moment ago is not handed out again at once (its old device's adb
 * transport may still be going away), and agents sharing one Docker host rarely race for the same port.
 */
export function pickPort(range: PortRange, taken: ReadonlySet<number>, random: number): number | null {
  const size = range.to - range.from + 1;
  const start = Math.min(size - 1, Math.max(0, Math.floor(random * size)));
  for (let i = 0; i < size; i++) {
    const port = range.from + ((start + i) % size);
    if (!taken.has(port)) return port;
  }
  return null;
}
