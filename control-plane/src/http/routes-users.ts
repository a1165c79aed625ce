import {
  AdminPatchUserRequest,
  AdminUserListQuery,
  ChangePasswordRequest,
  CreateApiTokenRequest,
  type MeResponse,
} from "@cloudphone/shared-protocol";
import { checkGrant, createApiToken, listApiTokens, MAX_TOKENS_PER_USER, revokeApiToken } from "../auth/api-tokens.js";
import { requireAdmin, requireScope } from "../auth/principal.js";
import { changePassword } from "../users/accounts.js";
import { adminUserView, deleteUser, listUsers, patchUser, type AdminRefusal } from "../users/admin.js";
import { bootstrapAdminId } from "../users/bootstrap.js";
import { getUserById, toUserView } from "../users/store.js";
import type { App, AppDeps } from "./app.js";
import { ApiError } from "./errors.js";
import { refusalError } from "./routes-auth.js";
import { readJson, validate } from "./validate.js";

const ADMIN_STATUS: Record<AdminRefusal["code"], 404 | 409> = { user_not_found: 404, user_deleted: 409, bootstrap_admin: 409, self: 409 };

export function registerUserRoutes(app: App, deps: AppDeps): void {
  const { db, config, log, publisher } = deps;
  const ctx = { db, config, log };
  let bootstrapId: string | null = null;
  const bootstrap = () => (bootstrapId ??= bootstrapAdminId(db, config));

  app.get("/api/me", (c) => {
    const p = requireScope(c, "account:read");
    const u = getUserById(db, p.userId);
    if (!u || u.status !== "active") throw new ApiError(401, "invalid_token", "the token's user no longer exists");
    const body: MeResponse = { ...toUserView(u), auth: { via: p.via, scopes: p.scopes === "all" ? "all" : [...p.scopes], ...(p.tokenId ? { tokenId: p.tokenId } : {}) } };
    return c.json(body);
  });

  app.post("/api/me/password", async (c) => {
    const p = requireScope(c, "account:write");
    const body = await readJson(c, ChangePasswordRequest);
    const requestId = c.get("requestId");
    const r = await changePassword(ctx, p.userId, body, requestId);
    if (!r.ok) {
      // A wrong current password is not a bad access token: 403, so clients do not mistake it for an expired session.
      if (r.code === "invalid_credentials") throw new ApiError(403, "invalid_credentials", "the current password is wrong");
      throw refusalError(c, r);
    }
    log.info({ requestId, userId: p.userId }, "password changed");
    return c.json(r.session);
  });

  app.post("/api/me/tokens", async (c) => {
    const p = requireScope(c, "account:write");
    const body = await readJson(c, CreateApiTokenRequest);
    const g = checkGrant(p, body.scopes);
    if (!g.ok) throw new ApiError(403, "insufficient_scope", `scope ${g.scope} ${g.why}`);
    const r = createApiToken(db, p.userId, body);
    if (!r.ok) throw new ApiError(409, "too_many_tokens", `at most ${MAX_TOKENS_PER_USER} live API tokens per user; revoke one first`);
    log.info({ requestId: c.get("requestId"), userId: p.userId, tokenId: r.view.id, scopes: body.scopes }, "API token created");
    return c.json({ ...r.view, token: r.token }, 201);
  });

  app.get("/api/me/tokens", (c) => {
    const p = requireScope(c, "account:read");
    return c.json({ tokens: listApiTokens(db, p.userId) });
  });

  app.delete("/api/me/tokens/:id", (c) => {
    const p = requireScope(c, "account:write");
    const id = c.req.param("id");
    if (!revokeApiToken(db, p.userId, id)) throw new ApiError(404, "token_not_found", `API token ${id} does not exist`);
    log.info({ requestId: c.get("requestId"), userId: p.userId, tokenId: id }, "API token revoked");
    return c.body(null, 204);
  });

  app.get("/api/admin/users", (c) => {
    requireAdmin(c);
    const q = validate(AdminUserListQuery, c.req.query(), "query");
    const r = listUsers(db, q);
    return c.json({ ...r, limit: q.limit, offset: q.offset });
  });

  app.get("/api/admin/users/:id", (c) => {
    requireAdmin(c);
    const u = getUserById(db, c.req.param("id"));
    if (!u) throw new ApiError(404, "user_not_found", `user ${c.req.param("id")} does not exist`);
    return c.json(adminUserView(db, u, bootstrap()));
  });

  app.patch("/api/admin/users/:id", async (c) => {
    const admin = requireAdmin(c);
    const body = await readJson(c, AdminPatchUserRequest);
    const id = c.req.param("id");
    const r = patchUser(db, id, body, { bootstrapId: bootstrap() });
    if (!r.ok) throw new ApiError(ADMIN_STATUS[r.code], r.code, r.message);
    log.info({ requestId: c.get("requestId"), userId: id, by: admin.userId, role: body.role, unlock: body.unlock }, "user updated by admin");
    return c.json(adminUserView(db, r.user, bootstrap()));
  });

  app.delete("/api/admin/users/:id", (c) => {
    const admin = requireAdmin(c);
    const id = c.req.param("id");
    const requestId = c.get("requestId");
    const r = deleteUser(db, id, { bootstrapId: bootstrap(), actorId: admin.userId, requestId });
    if (!r.ok) throw new ApiError(ADMIN_STATUS[r.code], r.code, r.message);
    for (const { commandId } of r.released) {
      publisher.publishNow(commandId).catch((e: unknown) => log.warn({ err: e, commandId, requestId }, "immediate command publish failed"));
    }
    log.info({ requestId, userId: id, by: admin.userId, releasedDevices: r.released.length }, "user deleted");
    return c.json({ user: toUserView(r.user), releasedDevices: r.released });
  });
}
