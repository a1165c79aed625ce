import { z } from "zod";

/**
 * Messages on the viewer's WebRTC data channel (label `control`), JSON text, between the viewer page (served by the
 * control plane) and the agent (S2). Touch coordinates are normalised to [0, 1] of the video as the viewer shows it;
 * the agent maps them to the current video size, so a rotation never sends an event the device would drop.
 */
export const STREAM_CHANNEL_LABEL = "control";
/** A viewer that sends no `ping` for this long is closed (S3). */
export const STREAM_HEARTBEAT_TIMEOUT_MS = 5000;

const Unit = z.number().min(0).max(1);

export const ViewerMessage = z.discriminatedUnion("t", [
  z.strictObject({ t: z.literal("ping"), ts: z.number().int().nonnegative() }),
  z.strictObject({
    t: z.literal("touch"),
    action: z.enum(["down", "move", "up", "cancel"]),
    /** Pointer id (browser touch identifier or 0 for the mouse), small and non-negative. */
    id: z.number().int().min(0).max(31),
    x: Unit,
    y: Unit,
    pressure: Unit.default(1),
  }),
  z.strictObject({ t: z.literal("scroll"), x: Unit, y: Unit, dx: z.number().min(-16).max(16), dy: z.number().min(-16).max(16) }),
  z.strictObject({
    t: z.literal("key"),
    action: z.enum(["down", "up"]),
    /** Android KeyEvent keycode. */
    keycode: z.number().int().min(0).max(400),
    repeat: z.number().int().min(0).max(1000).default(0),
    meta: z.number().int().min(0).max(0x7fffffff).default(0),
  }),
  z.strictObject({ t: z.literal("text"), text: z.string().min(1).max(300) }),
  z.strictObject({ t: z.literal("nav"), button: z.enum(["back", "home", "app_switch"]) }),
  z.strictObject({ t: z.literal("rotate") }),
  z.strictObject({ t: z.literal("clipboard.get") }),
  z.strictObject({ t: z.literal("clipboard.set"), text: z.string().max(64 * 1024), paste: z.boolean().default(false) }),
  /** Ask for control: granted when nobody holds it (or the holder is the same user). */
  z.strictObject({ t: z.literal("control.request") }),
  /** The holder gives control away (to one session, or to nobody). */
  z.strictObject({ t: z.literal("control.release"), to: z.string().max(64).optional() }),
]);
export type ViewerMessage = z.infer<typeof ViewerMessage>;

export const AgentMessage = z.discriminatedUnion("t", [
  z.strictObject({ t: z.literal("pong"), ts: z.number().int().nonnegative() }),
  z.strictObject({ t: z.literal("video"), width: z.number().int().positive(), height: z.number().int().positive() }),
  /**
   * Who holds control: sent when the data channel opens and on every change. `input` says whether this stream accepts
   * input at all: false when the device streams with `screenrecord` (no scrcpy control channel; every input message is
   * refused), so a viewer can show "view only" up front instead of learning it from an error.
   */
  z.strictObject({ t: z.literal("control"), holder: z.boolean(), sessionId: z.string().max(64), input: z.boolean() }),
  z.strictObject({ t: z.literal("clipboard"), text: z.string() }),
  z.strictObject({ t: z.literal("error"), code: z.enum(["view_only", "rate_limited", "invalid"]), message: z.string().max(500) }),
]);
export type AgentMessage = z.infer<typeof AgentMessage>;
