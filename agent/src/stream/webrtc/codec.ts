/**
 * Choosing the one H.264 payload type of the answer (pure). werift matches codecs by MIME type only and would
 * echo every H.264 variant the browser offered; the answer must carry exactly one: packetization-mode=1 (FU-A,
 * which the packetizer uses) and a profile the stream actually has (profile-level-id from the device's SPS).
 */
export interface OfferedCodec {
  payloadType: number;
  mimeType: string;
  parameters?: string | undefined;
}

export function fmtp(parameters: string | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of (parameters ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0) m.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  return m;
}

/** profile_idc and the constraint flags that matter for compatibility (RFC 6184 §8.1: baseline family). */
function profileOf(profileLevelId: string): { idc: number; constrained: boolean } | null {
  if (!/^[0-9a-fA-F]{6}$/.test(profileLevelId)) return null;
  const idc = parseInt(profileLevelId.slice(0, 2), 16);
  const iop = parseInt(profileLevelId.slice(2, 4), 16);
  // Constrained Baseline: baseline with constraint_set1 (0x40), or main/extended signalling it.
  return { idc, constrained: (iop & 0x40) !== 0 };
}

/**
 * The best offered H.264 codec for a stream whose SPS gives `streamProfileLevelId` (6 hex digits), or null when the
 * viewer offered no H.264 with packetization-mode=1. Preference: same profile and constraint → same profile →
 * any other (browsers decode any level, and constrained baseline streams are valid baseline and main).
 */
export function pickH264(offered: readonly OfferedCodec[], streamProfileLevelId: string): OfferedCodec | null {
  const stream = profileOf(streamProfileLevelId);
  let best: OfferedCodec | null = null;
  let bestScore = -1;
  for (const c of offered) {
    if (c.mimeType.toLowerCase() !== "video/h264") continue;
    const p = fmtp(c.parameters);
    if (p.get("packetization-mode") !== "1") continue;
    const offeredProfile = profileOf(p.get("profile-level-id") ?? "42001f");
    let score = 0;
    if (stream && offeredProfile && offeredProfile.idc === stream.idc) score = offeredProfile.constrained === stream.constrained ? 3 : 2;
    else if (stream && offeredProfile && stream.constrained && offeredProfile.idc === 0x4d) score = 1; // main decodes constrained baseline
    if (score > bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

/** The answer's fmtp for the chosen codec: the stream's own profile-level-id, packetization-mode=1. */
export function answerParameters(chosen: OfferedCodec, streamProfileLevelId: string): string {
  const p = fmtp(chosen.parameters);
  const parts = [];
  if (p.has("level-asymmetry-allowed")) parts.push("level-asymmetry-allowed=1");
  parts.push("packetization-mode=1", `profile-level-id=${streamProfileLevelId.toLowerCase()}`);
  return parts.join(";");
}
