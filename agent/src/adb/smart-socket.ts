import { connect, type Socket } from "node:net";
import { encodeRequest, parseHexLength } from "./protocol.js";

/**
 * A small client of the adb server's smart-socket protocol, for what adbkit does not offer with a timeout that
 * closes the socket: opening a device service on a raw connection (exec) and waiting for a device's transport.
 */

export interface AdbServerAddress {
  host: string;
  port: number;
}

/** The adb server (or the device through it) answered FAIL. */
export class AdbFailError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AdbFailError";
  }
}

export class AdbTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = "AdbTimeoutError";
  }
}

/** Resolves with exactly `n` bytes from a paused socket; rejects if it ends, fails or closes first. */
function readExactly(sock: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      sock.off("readable", tryRead);
      sock.off("end", onEnd);
      sock.off("error", onError);
      sock.off("close", onEnd);
    };
    const onEnd = () => {
      cleanup();
      reject(new Error("the adb server closed the connection"));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    function tryRead(): void {
      const b = sock.read(n) as Buffer | null;
      if (b === null) return;
      cleanup();
      if (b.length < n) reject(new Error("the adb server closed the connection"));
      else resolve(b);
    }
    sock.on("readable", tryRead);
    sock.once("end", onEnd);
    sock.once("error", onError);
    sock.once("close", onEnd);
    tryRead();
  });
}

/** Reads the server's answer to one request: OKAY, or FAIL with its message (thrown as AdbFailError). */
async function expectOkay(sock: Socket): Promise<void> {
  const status = (await readExactly(sock, 4)).toString("ascii");
  if (status === "OKAY") return;
  if (status === "FAIL") {
    const len = parseHexLength(await readExactly(sock, 4));
    if (len === null) throw new Error("malformed FAIL reply from the adb server");
    const message = len > 0 ? (await readExactly(sock, len)).toString("utf8") : "";
    throw new AdbFailError(message || "adb server answered FAIL without a reason");
  }
  throw new Error(`unexpected reply ${JSON.stringify(status)} from the adb server`);
}

/**
 * Connects to the adb server and runs `steps` on the socket within `timeoutMs`; on timeout or failure the socket is
 * destroyed. Resolves with the socket (still open) for the caller to continue on.
 */
async function withConnection(server: AdbServerAddress, timeoutMs: number, what: string, steps: (sock: Socket) => Promise<void>): Promise<Socket> {
  const sock = connect({ host: server.host, port: server.port });
  sock.setNoDelay(true);
  sock.pause();
  // Errors reach whoever is reading (readExactly, then the caller); this keeps one between reads from crashing.
  sock.on("error", () => undefined);
  let timer: NodeJS.Timeout | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AdbTimeoutError(what, timeoutMs)), timeoutMs);
  });
  const run = async () => {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      sock.once("error", onError);
      sock.once("connect", () => {
        sock.off("error", onError);
        resolve();
      });
    });
    await steps(sock);
  };
  try {
    await Promise.race([run(), timeout]);
    return sock;
  } catch (e) {
    sock.destroy();
    throw e;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * Opens `service` (e.g. `shell,v2,raw:ls`) on device `serial` through the adb server: `host:transport:<serial>`,
 * then the service, each answered OKAY. The returned socket is paused and carries the service's stream.
 */
export function openDeviceService(server: AdbServerAddress, serial: string, service: string, timeoutMs: number): Promise<Socket> {
  return withConnection(server, timeoutMs, `opening ${service.split(":")[0]} on ${serial}`, async (sock) => {
    sock.write(encodeRequest(`host:transport:${serial}`));
    await expectOkay(sock);
    sock.write(encodeRequest(service));
    await expectOkay(sock);
  });
}

/**
 * Waits until the adb server has `serial` online (its transport handshake done), like `adb -s <serial>
 * wait-for-device`. Rejects with AdbTimeoutError after `timeoutMs`, closing the request.
 */
export async function waitForDevice(server: AdbServerAddress, serial: string, timeoutMs: number): Promise<void> {
  const sock = await withConnection(server, timeoutMs, `waiting for ${serial}`, async (s) => {
    s.write(encodeRequest(`host-serial:${serial}:wait-for-any-device`));
    await expectOkay(s); // request accepted
    await expectOkay(s); // device online
  });
  sock.destroy();
}
