import { z } from "zod";
import { checkDatabase } from "../store/db.js";
import { getCommand } from "../devices/commands.js";
import { countRejectedStored, listRejected } from "../inbox/rejected.js";
import { listEvents } from "./events-query.js";
import { requireAdmin } from "../auth/principal.js";
import type { App, AppDeps } from "./app.js";
import { ApiError } from "./errors.js";
import { validate } from "./validate.js";

const EventsQuery = z.object({
  hostId: z.string().min(1).max(64).optional(),
  deviceId: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
});
const LimitQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

export function registerOpsRoutes(app: App, deps: AppDeps): void {
  const { db } = deps;

  app.get("/health", (c) => c.json({ status: "ok" }));

  app.get("/ready", (c) => {
    const database = checkDatabase(db);
    const bus = deps.bus();
    const broker = bus ? bus.health() : { ok: false, detail: "broker not started" };
    const ready = database.ok && broker.ok;
    return c.json({ status: ready ? "ready" : "not_ready", checks: { database, broker } }, ready ? 200 : 503);
  });

  app.get("/api/events", (c) => {
    requireAdmin(c);
    const q = validate(EventsQuery, c.req.query(), "query");
    return c.json({ events: listEvents(db, q) });
  });

  app.get("/api/commands/:id", (c) => {
    requireAdmin(c);
    const cmd = getCommand(db, c.req.param("id"));
    if (!cmd) throw new ApiError(404, "command_not_found", `command ${c.req.param("id")} does not exist`);
    return c.json(cmd);
  });

  app.get("/api/inbox/stats", (c) => {
    requireAdmin(c);
    return c.json({ ...deps.inbox.stats.snapshot(), rejectedStored: countRejectedStored(db) });
  });

  app.get("/api/inbox/rejected", (c) => {
    requireAdmin(c);
    const q = validate(LimitQuery, c.req.query(), "query");
    return c.json({ rejected: listRejected(db, q.limit) });
  });
}
