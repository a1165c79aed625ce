import { createServer } from "node:net";

/**
 * Whether nothing listens on `port` on this host right now (host network mode: the device's adbd will bind it on
 * all interfaces). A port taken by another program would make the device unreachable forever, so allocation
 * skips it. Best effort: a program may still take the port later.
 */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "0.0.0.0", exclusive: true }, () => server.close(() => resolve(true)));
  });
}
