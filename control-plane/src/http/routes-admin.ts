import type { App, AppDeps } from "./app.js";

// STUB: filled by the helper that owns this file.
export function registerAdminRoutes(_app: App, _deps: AppDeps): void {}
