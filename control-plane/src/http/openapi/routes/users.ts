import { z } from "zod";
import {
  AdminDeleteUserResponse,
  AdminPatchUserRequest,
  AdminUserList,
  AdminUserListQuery,
  AdminUserView,
  ApiTokenView,
  ChangePasswordRequest,
  CreateApiTokenRequest,
  CreatedApiToken,
  LoginRequest,
  LogoutRequest,
  MeResponse,
  RefreshRequest,
  RegisterRequest,
  SessionResponse,
} from "@cloudphone/shared-protocol";
import { err, type RouteDoc } from "../types.js";

const perAddress = err(429, "rate_limited", "too many attempts from this client address (`Retry-After`)");
const userNotFound = err(404, "user_not_found", "unknown user id");

/** Sessions, the caller's account and API tokens, and user administration (U1). */
export const USER_ROUTES: readonly RouteDoc[] = [
  {
    method: "post", path: "/api/auth/register", tag: "auth", auth: "none", summary: "Register; answers with a session",
    body: RegisterRequest,
    response: { status: 201, description: "the new user's session", schema: SessionResponse },
    errors: [err(409, "email_taken", "an account with this email exists"), perAddress],
  },
  {
    method: "post", path: "/api/auth/login", tag: "auth", auth: "none", summary: "Log in with email and password",
    body: LoginRequest,
    response: { status: 200, description: "a session", schema: SessionResponse },
    errors: [err(401, "invalid_credentials", "email or password is wrong"), err(429, "account_locked", "too many failures (`Retry-After`)"), perAddress],
  },
  {
    method: "post", path: "/api/auth/refresh", tag: "auth", auth: "none", summary: "Rotate a refresh token into a new session",
    body: RefreshRequest,
    response: { status: 200, description: "a new session; the presented refresh token is revoked", schema: SessionResponse },
    errors: [err(401, "invalid_refresh_token", "unknown, expired, reused or revoked refresh token")],
  },
  {
    method: "post", path: "/api/auth/logout", tag: "auth", auth: "bearer", summary: "End this session (or all with `all: true`)",
    body: LogoutRequest,
    response: { status: 204, description: "signed out" },
  },
  {
    method: "get", path: "/api/me", tag: "account", auth: "bearer", scope: "account:read", summary: "The caller and how they authenticated",
    response: { status: 200, description: "the user", schema: MeResponse },
  },
  {
    method: "post", path: "/api/me/password", tag: "account", auth: "bearer", scope: "account:write",
    summary: "Change the password (older access and refresh tokens stop working)",
    body: ChangePasswordRequest,
    response: { status: 200, description: "a fresh session", schema: SessionResponse },
    errors: [err(403, "invalid_credentials", "the current password is wrong")],
  },
  {
    method: "post", path: "/api/me/tokens", tag: "account", auth: "bearer", scope: "account:write", summary: "Create an API token (secret shown once)",
    body: CreateApiTokenRequest,
    response: { status: 201, description: "the token with its secret", schema: CreatedApiToken },
    errors: [err(403, "insufficient_scope", "a scope the caller may not grant"), err(409, "too_many_tokens", "the user has the maximum of live tokens")],
  },
  {
    method: "get", path: "/api/me/tokens", tag: "account", auth: "bearer", scope: "account:read", summary: "The caller's live API tokens (no secrets)",
    response: { status: 200, description: "tokens", schema: z.object({ tokens: z.array(ApiTokenView) }) },
  },
  {
    method: "delete", path: "/api/me/tokens/:id", tag: "account", auth: "bearer", scope: "account:write", summary: "Revoke one of the caller's API tokens",
    response: { status: 204, description: "revoked" },
    errors: [err(404, "token_not_found", "unknown token, or another user's")],
  },
  {
    method: "get", path: "/api/admin/users", tag: "admin", auth: "admin", summary: "List users (paged, filters)",
    query: AdminUserListQuery,
    response: { status: 200, description: "a page of users", schema: AdminUserList },
  },
  {
    method: "get", path: "/api/admin/users/:id", tag: "admin", auth: "admin", summary: "One user with lockout, devices and tokens",
    response: { status: 200, description: "the user", schema: AdminUserView },
    errors: [userNotFound],
  },
  {
    method: "patch", path: "/api/admin/users/:id", tag: "admin", auth: "admin", summary: "Change a user's role or unlock them",
    body: AdminPatchUserRequest,
    response: { status: 200, description: "the user", schema: AdminUserView },
    errors: [userNotFound, err(409, "user_deleted", "the user is deleted"), err(409, "bootstrap_admin", "the bootstrap admin cannot be demoted")],
  },
  {
    method: "delete", path: "/api/admin/users/:id", tag: "admin", auth: "admin", summary: "Delete a user: tokens revoked, devices released",
    response: { status: 200, description: "the user and the devices whose deletion was commanded", schema: AdminDeleteUserResponse },
    description: "Repeating it answers 200 again (idempotent).",
    errors: [userNotFound, err(409, "bootstrap_admin", "the bootstrap admin cannot be deleted"), err(409, "self", "an admin cannot delete themselves")],
  },
];
