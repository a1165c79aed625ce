import { Gauge, type Registry } from "prom-client";
import type { RpcClient } from "./client.js";
import type { TunnelBroker } from "./types.js";

/** Scrape-time gauges for RPC and tunnels: open tunnels (a leak shows as a number that never returns to 0) and breakers. */
export function registerRpcMetrics(registry: Registry, rpc: RpcClient, tunnels: TunnelBroker): void {
  new Gauge({
    name: "cloudphone_tunnels_open",
    help: "Data tunnels waiting for their agent or streaming.",
    registers: [registry],
    collect() {
      this.set(tunnels.openCount());
    },
  });
  new Gauge({
    name: "cloudphone_rpc_in_flight",
    help: "RPC calls to agents waiting for their answer.",
    registers: [registry],
    collect() {
      this.set(rpc.inFlight());
    },
  });
  new Gauge({
    name: "cloudphone_rpc_breaker_open",
    help: "Per host: 1 while its RPC circuit breaker is open or half-open (the host did not answer recent requests).",
    labelNames: ["host_id"],
    registers: [registry],
    collect() {
      this.reset();
      for (const b of rpc.breakerViews()) this.set({ host_id: b.hostId }, b.state === "closed" ? 0 : 1);
    },
  });
  const counters = new Gauge({
    name: "cloudphone_rpc_calls",
    help: "RPC calls since start by outcome (ok, failed, timeouts, refused, lateResponses, invalidResponses).",
    labelNames: ["outcome"],
    registers: [registry],
    collect() {
      for (const [k, v] of Object.entries(rpc.counters)) counters.set({ outcome: k }, v);
    },
  });
}
