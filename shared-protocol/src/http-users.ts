import { z } from "zod";

/** Users, sessions and API tokens (U1): request and response bodies of /api/auth/*, /api/me*, /api/admin/users*. */

export const USER_ROLES = ["user", "admin"] as const;
export const UserRole = z.enum(USER_ROLES);
export type UserRole = z.infer<typeof UserRole>;

/** Scopes an API token can carry (JWT sessions carry all of them). Keep in step with control-plane auth/principal.ts. */
export const API_SCOPES = ["devices:read", "devices:write", "billing:read", "billing:write", "account:read", "account:write", "admin"] as const;
export const ApiScope = z.enum(API_SCOPES);
export type ApiScope = z.infer<typeof ApiScope>;

/** Trimmed and lower-cased before the format check, so `Alice@Example.com ` and `alice@example.com` are one account. */
export const Email = z.string().trim().toLowerCase().pipe(z.email("must be an email address").max(254, "must be at most 254 characters"));
export const Password = z.string().min(12, "must be at least 12 characters").max(256, "must be at most 256 characters");

export const RegisterRequest = z.strictObject({ email: Email, password: Password });
export type RegisterRequest = z.infer<typeof RegisterRequest>;

/** Login takes any non-empty password: the length rule applies when a password is chosen, not when it is tried. */
export const LoginRequest = z.strictObject({ email: Email, password: z.string().min(1, "is required").max(256, "must be at most 256 characters") });
export type LoginRequest = z.infer<typeof LoginRequest>;

export const RefreshRequest = z.strictObject({ refreshToken: z.string().min(1).max(512) });

/** `all: true` also ends every other session of the user (all refresh tokens revoked, access tokens invalidated). */
export const LogoutRequest = z.strictObject({ refreshToken: z.string().min(1).max(512).optional(), all: z.boolean().default(false) });

export const ChangePasswordRequest = z.strictObject({
  currentPassword: z.string().min(1, "is required").max(256),
  newPassword: Password,
});

export const UserView = z.object({
  id: z.string(),
  email: z.string(),
  role: UserRole,
  status: z.enum(["active", "deleted"]),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  deletedAt: z.number().int().nullable(),
});
export type UserView = z.infer<typeof UserView>;

/** Answer of register, login, refresh and password change. `expiresIn` is the access token's lifetime in seconds. */
export const SessionResponse = z.object({
  tokenType: z.literal("Bearer"),
  accessToken: z.string(),
  refreshToken: z.string(),
  expiresIn: z.number().int(),
  refreshExpiresAt: z.number().int(),
  user: UserView,
});
export type SessionResponse = z.infer<typeof SessionResponse>;

export const MeResponse = UserView.extend({
  auth: z.object({
    via: z.enum(["jwt", "api_token", "admin_token"]),
    scopes: z.union([z.literal("all"), z.array(ApiScope)]),
    tokenId: z.string().optional(),
  }),
});
export type MeResponse = z.infer<typeof MeResponse>;

export const CreateApiTokenRequest = z.strictObject({
  name: z.string().trim().min(1, "is required").max(100),
  scopes: z
    .array(ApiScope)
    .min(1, "needs at least one scope")
    .max(API_SCOPES.length)
    .refine((s) => new Set(s).size === s.length, "must not repeat a scope"),
  /** Lifetime in days; without it the token lives until revoked. */
  expiresInDays: z.number().int().min(1).max(3650).optional(),
});
export type CreateApiTokenRequest = z.infer<typeof CreateApiTokenRequest>;

export const ApiTokenView = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(ApiScope),
  expiresAt: z.number().int().nullable(),
  lastUsedAt: z.number().int().nullable(),
  createdAt: z.number().int(),
});
export type ApiTokenView = z.infer<typeof ApiTokenView>;

/** The only answer that carries the secret of an API token. */
export const CreatedApiToken = ApiTokenView.extend({ token: z.string() });

export const AdminUserListQuery = z.object({
  /** Case-insensitive substring of the email. */
  email: z.string().min(1).max(254).optional(),
  status: z.enum(["active", "deleted"]).optional(),
  role: UserRole.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

export const AdminUserView = UserView.extend({
  failedLogins: z.number().int(),
  lockedUntil: z.number().int().nullable(),
  /** Devices owned and not being deleted. */
  liveDevices: z.number().int(),
  activeApiTokens: z.number().int(),
  bootstrap: z.boolean(),
});
export type AdminUserView = z.infer<typeof AdminUserView>;

export const AdminUserList = z.object({ users: z.array(UserView), total: z.number().int(), limit: z.number().int(), offset: z.number().int() });

export const AdminPatchUserRequest = z
  .strictObject({
    role: UserRole.optional(),
    /** Clears a login lockout and the failure counter. */
    unlock: z.literal(true).optional(),
  })
  .refine((b) => b.role !== undefined || b.unlock !== undefined, "give role and/or unlock");

export const AdminDeleteUserResponse = z.object({
  user: UserView,
  /** Devices whose deletion was commanded by this call. */
  releasedDevices: z.array(z.object({ deviceId: z.string(), commandId: z.string() })),
});
