import { randomBytes } from "node:crypto";
import { Readable, Transform } from "node:stream";
import { EXEC_OUTPUT_CAP_BYTES, MAX_LIST_ENTRIES, type FileEntry } from "@cloudphone/shared-protocol";
import type { Logger } from "../log.js";
import { RpcFailure, type RpcContext, type RpcHandlers } from "../rpc/types.js";
import type { AdbClient } from "./client.js";
import { AdbExecError } from "./exec.js";
import { AdbFailError, AdbTimeoutError, openDeviceService } from "./smart-socket.js";
import { SyncFailError, SyncSession, fileType, type SyncStat } from "./sync.js";

export interface AdbRpcDeps {
  client: Pick<AdbClient, "exec" | "server">;
  log: Logger;
  /** Opening a connection to a device through the adb server. */
  connectTimeoutMs?: number;
}

/** An RPC answer must fit one MQTT message (64 KiB) with its envelope. */
const MAX_RESULT_JSON = 60 * 1024;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function serialOf(ctx: RpcContext): string {
  if (ctx.serial === null) throw new RpcFailure("device_not_ready", `device ${ctx.deviceId} is ${ctx.device.state}; its container is not running with adbd`);
  return ctx.serial;
}

/** adb-level failures → the RPC's error codes. */
function adbFailure(e: unknown, what: string): RpcFailure {
  if (e instanceof RpcFailure) return e;
  const msg = (e as Error).message;
  if (e instanceof AdbTimeoutError) return new RpcFailure("timeout", `${what}: ${msg}`);
  if (e instanceof AdbFailError) return new RpcFailure("device_not_ready", `${what}: adb: ${msg}`);
  if (e instanceof AdbExecError) return new RpcFailure("failed", `${what}: ${msg}`);
  if (e instanceof SyncFailError) return /no such file|not found|ENOENT/i.test(msg) ? new RpcFailure("not_found", `${what}: ${msg}`) : new RpcFailure("failed", `${what}: ${msg}`);
  return new RpcFailure("failed", `${what}: ${msg}`);
}

const entry = (name: string, st: SyncStat): FileEntry => ({ name, type: fileType(st.mode), size: st.size, mode: st.mode & 0o7777, mtime: st.mtime * 1000 });

/** Cuts output to fit: `cap` bytes per stream, then (JSON escaping can grow it) the whole answer under the MQTT limit. */
function fitOutput(stdout: Buffer, stderr: Buffer, cap: number): { stdout: string; stderr: string; truncated: boolean } {
  let truncated = stdout.length > cap || stderr.length > cap;
  let out = stdout.subarray(0, cap);
  let err = stderr.subarray(0, cap);
  for (;;) {
    const r = { stdout: out.toString("utf8"), stderr: err.toString("utf8") };
    if (JSON.stringify(r).length <= MAX_RESULT_JSON - 1024) return { ...r, truncated };
    truncated = true;
    if (out.length >= err.length) out = out.subarray(0, Math.floor(out.length / 2));
    else err = err.subarray(0, Math.floor(err.length / 2));
  }
}

/** RPC handlers of the adb layer (A1): exec, files (stat, list, push, pull) and screenshots. */
export function adbRpcHandlers(d: AdbRpcDeps): RpcHandlers {
  const { client, log } = d;
  const connectMs = d.connectTimeoutMs ?? 10_000;
  const sync = (ctx: RpcContext) => SyncSession.open(client.server, serialOf(ctx), connectMs, ctx.signal);

  const withSync = async <T>(ctx: RpcContext, what: string, fn: (s: SyncSession) => Promise<T>): Promise<T> => {
    let s: SyncSession | null = null;
    try {
      s = await sync(ctx);
      const r = await fn(s);
      s.close();
      return r;
    } catch (e) {
      // Mid-transfer the connection's state is unknown: drop it rather than send QUIT into a SEND.
      s?.destroy();
      throw adbFailure(e, what);
    }
  };

  /** Best effort: a temporary file a failed push left. */
  const removeQuietly = async (serial: string, path: string) => {
    try {
      await client.exec(serial, `rm -f ${quote(path)}`, { timeoutMs: 5000 });
    } catch (e) {
      log.warn({ serial, path, err: (e as Error).message }, "could not remove a temporary file after a failed push");
    }
  };

  return {
    "device.exec": async (p, ctx) => {
      const serial = serialOf(ctx);
      // Leave time to answer before the caller's deadline.
      const timeoutMs = Math.max(100, Math.min(p.timeoutMs, ctx.deadline - Date.now() - 500));
      try {
        const r = await client.exec(serial, p.command, { timeoutMs, maxOutputBytes: 4 * EXEC_OUTPUT_CAP_BYTES });
        const fit = fitOutput(r.stdout, r.stderr, EXEC_OUTPUT_CAP_BYTES);
        return { exitCode: r.exitCode, stdout: fit.stdout, stderr: fit.stderr, truncated: fit.truncated || r.truncated, timedOut: r.timedOut, durationMs: r.durationMs };
      } catch (e) {
        throw adbFailure(e, "exec");
      }
    },

    "device.files.stat": (p, ctx) =>
      withSync(ctx, `stat ${p.path}`, async (s) => {
        const st = await s.stat(p.path);
        if (!st) throw new RpcFailure("not_found", `${p.path}: no such file or directory`);
        return entry(p.path === "/" ? "/" : p.path.slice(p.path.lastIndexOf("/") + 1), st);
      }),

    "device.files.list": (p, ctx) =>
      withSync(ctx, `list ${p.path}`, async (s) => {
        const st = await s.stat(p.path);
        if (!st) throw new RpcFailure("not_found", `${p.path}: no such file or directory`);
        if (fileType(st.mode) !== "directory") throw new RpcFailure("bad_params", `${p.path} is not a directory`);
        const all = (await s.list(p.path)).sort((a, b) => a.name.localeCompare(b.name));
        return { entries: all.slice(0, MAX_LIST_ENTRIES).map((e) => entry(e.name, e)), truncated: all.length > MAX_LIST_ENTRIES };
      }),

    /**
     * To a temporary name next to the target, then renamed: a failed or aborted push leaves nothing half-written.
     * The size is checked twice: bytes received against what the user declared, and the file on the device.
     */
    "device.files.push": async (p, ctx) => {
      if (p.path === "/" || p.path.endsWith("/")) throw new RpcFailure("bad_params", "path: must name a file");
      const serial = serialOf(ctx);
      const slash = p.path.lastIndexOf("/");
      const tmp = `${p.path.slice(0, slash)}/.${p.path.slice(slash + 1)}.cloudphone-${randomBytes(6).toString("hex")}.tmp`;
      let written = false;
      try {
        const target = await withSync(ctx, `stat ${p.path}`, (s) => s.stat(p.path));
        if (target && fileType(target.mode) === "directory") throw new RpcFailure("conflict", `${p.path} is a directory`);
        const data = await ctx.tunnels.download(p.tunnel, ctx.signal);
        const bytes = await withSync(ctx, `push ${p.path}`, async (s) => {
          written = true;
          try {
            return await s.send(tmp, p.mode, data);
          } finally {
            data.destroy();
          }
        });
        if (p.size !== null && bytes !== p.size) throw new RpcFailure("tunnel_failed", `received ${bytes} of ${p.size} bytes`);
        const st = await withSync(ctx, `stat ${tmp}`, (s) => s.stat(tmp));
        // sync v1 sizes are 32-bit: compare modulo 2^32.
        if (!st || st.size !== bytes % 2 ** 32) throw new RpcFailure("failed", `the device has ${st?.size ?? "no"} bytes of ${bytes} written`);
        const mv = await client.exec(serial, `mv -f ${quote(tmp)} ${quote(p.path)}`, { timeoutMs: 15_000 });
        if (mv.exitCode !== 0) throw new RpcFailure("failed", `rename into place failed: ${mv.stderr.toString("utf8").trim() || `exit ${mv.exitCode}`}`);
        written = false;
        return { bytes };
      } catch (e) {
        if (written) await removeQuietly(serial, tmp);
        throw adbFailure(e, `push ${p.path}`);
      }
    },

    "device.files.pull": async (p, ctx) => {
      const serial = serialOf(ctx);
      let s: SyncSession | null = null;
      try {
        s = await SyncSession.open(client.server, serial, connectMs, ctx.signal);
        const st = await s.stat(p.path);
        if (!st) throw new RpcFailure("not_found", `${p.path}: no such file or directory`);
        if (fileType(st.mode) === "directory") throw new RpcFailure("bad_params", `${p.path} is a directory`);
        const body = Readable.from(s.recv(p.path), { objectMode: false });
        const bytes = await ctx.tunnels.upload(p.tunnel, body, ctx.signal, { size: st.size });
        s.close();
        return { bytes };
      } catch (e) {
        s?.destroy();
        throw adbFailure(e, `pull ${p.path}`);
      }
    },

    /** `screencap -p` streamed from `exec:` (raw stdout); anything but a PNG is an error, not an image. */
    "device.screenshot": async (p, ctx) => {
      const serial = serialOf(ctx);
      try {
        const sock = await openDeviceService(client.server, serial, "exec:screencap -p", connectMs);
        ctx.signal.addEventListener("abort", () => sock.destroy(), { once: true });
        let head = Buffer.alloc(0);
        let checked = false;
        const check = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            if (checked) return cb(null, chunk);
            head = Buffer.concat([head, chunk]);
            if (head.length < PNG_SIGNATURE.length) return cb();
            checked = true;
            if (!head.subarray(0, 8).equals(PNG_SIGNATURE)) return cb(new Error(`screencap did not produce a PNG: ${head.subarray(0, 200).toString("utf8")}`));
            cb(null, head);
          },
          flush(cb) {
            cb(checked ? null : new Error(`screencap did not produce a PNG: ${head.toString("utf8").slice(0, 200) || "no output"}`));
          },
        });
        sock.on("error", (e) => check.destroy(e));
        sock.pipe(check);
        sock.resume();
        return { bytes: await ctx.tunnels.upload(p.tunnel, check, ctx.signal, { contentType: "image/png" }) };
      } catch (e) {
        throw adbFailure(e, "screenshot");
      }
    },
  };
}
