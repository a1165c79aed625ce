import { CreateEnrollmentTokenRequest, EnrollRequest, MqttCredentialRequest, type EnrollResponse } from "@cloudphone/shared-protocol";
import { createEnrollmentToken, enrollHost } from "../hosts/enrollment.js";
import { createOperatorCredential, hostClientId } from "../hosts/credentials.js";
import { getHost, listHosts, revokeHost } from "../hosts/registry.js";
import { requireAdmin } from "../auth/principal.js";
import type { App, AppDeps } from "./app.js";
import { ApiError } from "./errors.js";
import { readJson } from "./validate.js";

export function registerHostRoutes(app: App, deps: AppDeps): void {
  const { db, log } = deps;

  app.post("/api/enrollment-tokens", async (c) => {
    requireAdmin(c);
    const body = await readJson(c, CreateEnrollmentTokenRequest);
    const t = createEnrollmentToken(db, body.ttlSeconds, body.note);
    log.info({ requestId: c.get("requestId"), expiresAt: t.expiresAt }, "enrollment token created");
    return c.json(t, 201);
  });

  app.post("/api/hosts/enroll", async (c) => {
    const body = await readJson(c, EnrollRequest);
    const r = enrollHost(db, body);
    if (!r.ok) {
      log.warn({ requestId: c.get("requestId"), reason: r.reason, hostname: body.hostname }, "enrollment refused");
      throw new ApiError(401, "invalid_enrollment_token", `enrollment token is ${r.reason === "unknown" ? "unknown" : r.reason === "used" ? "already used" : "expired"}`);
    }
    log.info({ requestId: c.get("requestId"), hostId: r.hostId, hostname: body.hostname }, "host enrolled");
    const res: EnrollResponse = {
      hostId: r.hostId,
      mqtt: { url: deps.mqttPublicUrl(), username: r.hostId, password: r.password, clientId: hostClientId(r.hostId) },
    };
    return c.json(res, 201);
  });

  app.get("/api/hosts", (c) => {
    requireAdmin(c);
    return c.json({ hosts: listHosts(db) });
  });

  app.get("/api/hosts/:id", (c) => {
    requireAdmin(c);
    const host = getHost(db, c.req.param("id"));
    if (!host) throw new ApiError(404, "host_not_found", `host ${c.req.param("id")} does not exist`);
    return c.json(host);
  });

  app.delete("/api/hosts/:id", (c) => {
    requireAdmin(c);
    const id = c.req.param("id");
    if (!revokeHost(db, id)) throw new ApiError(404, "host_not_found", `host ${id} does not exist`);
    const kicked = deps.bus()?.disconnectHost(id) ?? false;
    log.info({ requestId: c.get("requestId"), hostId: id, kicked }, "host revoked");
    return c.json({ host: getHost(db, id), disconnected: kicked });
  });

  app.post("/api/mqtt-credentials", async (c) => {
    requireAdmin(c);
    const body = await readJson(c, MqttCredentialRequest);
    const r = createOperatorCredential(db, body.username, body.access);
    if (!r.ok) throw new ApiError(409, "username_taken", `MQTT username ${body.username} already exists`);
    log.info({ requestId: c.get("requestId"), username: body.username, access: body.access }, "operator MQTT credentials created");
    return c.json({ username: body.username, password: r.password, access: body.access }, 201);
  });
}
