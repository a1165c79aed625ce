import { randomInt } from "node:crypto";
import { z } from "zod";

/**
 * scrcpy-server start arguments. The server takes its exact version as the first argument (it exits on any
 * mismatch with the jar) followed by `key=value` pairs in any order (`Options.java`). Pure: builds argv only.
 */

/** The one server version this agent release speaks (video framing and argument set depend on it). */
export const PINNED_SCRCPY_VERSION = "4.1";

/** Socket-level framing generation: 2.x and 3.x share one layout; 4.x adds session packets and moves flags. */
export type ScrcpyFraming = 3 | 4;

export function scrcpyFraming(version: string): ScrcpyFraming {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(version);
  const major = m ? Number(m[1]) : NaN;
  if (major === 2 || major === 3) return 3;
  if (major === 4) return 4;
  throw new RangeError(`unsupported scrcpy server version "${version}" (supported: 2.x, 3.x, 4.x)`);
}

/** A 31-bit random session id; the server listens on `localabstract:scrcpy_<%08x>`. */
export function randomScid(): number {
  return randomInt(0, 0x8000_0000);
}

export function formatScid(scid: number): string {
  return scid.toString(16).padStart(8, "0");
}

export function scrcpySocketName(scid: number): string {
  return `scrcpy_${formatScid(scid)}`;
}

/** Android MediaCodecInfo.CodecProfileLevel values for `video_codec_options=profile=…,level=…`. */
export const AvcProfile = { BASELINE: 1, MAIN: 2, HIGH: 8, CONSTRAINED_BASELINE: 0x10000 } as const;
export const AvcLevel = { L31: 0x200, L32: 0x400, L4: 0x800, L41: 0x1000, L42: 0x2000 } as const;

export const scrcpyServerOptionsSchema = z.object({
  version: z.string().regex(/^\d+\.\d+(\.\d+)?$/, "version must look like 3.3.4 or 4.1"),
  scid: z.number().int().min(0).max(0x7fff_ffff),
  logLevel: z.enum(["verbose", "debug", "info", "warn", "error"]).default("info"),
  control: z.boolean().default(true),
  /** Long side of the video in pixels; 0 keeps the device size. */
  maxSize: z.number().int().min(0).max(8192).default(1280),
  maxFps: z.number().int().min(1).max(120).default(30),
  videoBitRate: z.number().int().min(100_000).max(100_000_000).default(4_000_000),
  /** Seconds between IDR frames (MediaFormat KEY_I_FRAME_INTERVAL). Joins and PLIs also ask for one explicitly. */
  iFrameIntervalSeconds: z.number().int().min(1).max(60).default(2),
  /** AVC profile (MediaCodec constant); Constrained Baseline decodes everywhere (WebRTC's 42e0xx). */
  profile: z.number().int().positive().optional(),
  level: z.number().int().positive().optional(),
  /** Pin an encoder by name (e.g. `c2.android.avc.encoder` on redroid), found with `list_encoders=true`. */
  videoEncoder: z.string().regex(/^[A-Za-z0-9._-]+$/, "encoder name has unexpected characters").optional(),
  clipboardAutosync: z.boolean().default(true),
  /** Device name (64 bytes) on the first socket; off by default, the agent knows its devices. */
  sendDeviceMeta: z.boolean().default(false),
  cleanup: z.boolean().default(true),
});

export type ScrcpyServerOptionsInput = z.input<typeof scrcpyServerOptionsSchema>;
export type ScrcpyServerOptions = z.output<typeof scrcpyServerOptionsSchema>;

/** Where the agent pushes the server jar, and the Java entry point. */
export const SCRCPY_SERVER_DEVICE_PATH = "/data/local/tmp/scrcpy-server.jar";
export const SCRCPY_SERVER_CLASS = "com.genymobile.scrcpy.Server";

/** Arguments after `app_process / com.genymobile.scrcpy.Server`: version then key=value pairs. */
export function scrcpyServerArgs(input: ScrcpyServerOptionsInput): string[] {
  const o = scrcpyServerOptionsSchema.parse(input);
  scrcpyFraming(o.version); // refuse versions whose framing we cannot parse
  const codecOptions = [`i-frame-interval=${o.iFrameIntervalSeconds}`];
  if (o.profile !== undefined) codecOptions.push(`profile=${o.profile}`);
  if (o.level !== undefined) codecOptions.push(`level=${o.level}`);
  const args = [
    o.version,
    `scid=${formatScid(o.scid)}`,
    `log_level=${o.logLevel}`,
    // The agent connects to the device (adb forward / openLocal); the server sends a dummy byte on the first socket.
    "tunnel_forward=true",
    // No audio socket: otherwise the server expects a third connection.
    "audio=false",
    `control=${o.control}`,
    "video_codec=h264",
    `max_size=${o.maxSize}`,
    `max_fps=${o.maxFps}`,
    `video_bit_rate=${o.videoBitRate}`,
    `video_codec_options=${codecOptions.join(",")}`,
    `clipboard_autosync=${o.clipboardAutosync}`,
    `send_device_meta=${o.sendDeviceMeta}`,
    `cleanup=${o.cleanup}`,
  ];
  if (o.videoEncoder !== undefined) args.push(`video_encoder=${o.videoEncoder}`);
  return args;
}

/** Full shell command line for `adb shell` (values are validated above to contain no shell metacharacters). */
export function scrcpyServerCommand(input: ScrcpyServerOptionsInput, jarPath = SCRCPY_SERVER_DEVICE_PATH): string {
  if (!/^\/[A-Za-z0-9._/-]+$/.test(jarPath)) throw new RangeError(`jar path must be absolute and plain: ${jarPath}`);
  return `CLASSPATH=${jarPath} app_process / ${SCRCPY_SERVER_CLASS} ${scrcpyServerArgs(input).join(" ")}`;
}

/** Arguments that make the server print its encoders and exit (probe at agent start; pin `video_encoder`). */
export function scrcpyListEncodersArgs(version: string): string[] {
  scrcpyFraming(version);
  return [version, "list_encoders=true", "log_level=info", "audio=false", "video_codec=h264"];
}
