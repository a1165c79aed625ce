// The control plane's HTTP API from the page: session tokens kept in memory only (never in storage, so a reload
// means signing in again), the access token refreshed before it expires and once more on a 401 token_expired.

/** Thrown for a non-2xx answer; `code` is the API's error code when the body was an ErrorBody. */
export class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  #access = null;
  #refresh = null;
  #timer = 0;
  #refreshing = null;
  /** Called with null when the session ends (sign-out, refresh refused). */
  onSignedOut = () => {};
  user = null;

  get signedIn() {
    return this.#access !== null;
  }

  /** The Authorization header value (for requests made outside `request`, e.g. a keepalive DELETE). */
  get authorization() {
    return this.#access === null ? null : `Bearer ${this.#access}`;
  }

  async login(email, password) {
    const res = await fetch("/api/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    if (!res.ok) throw await failure(res);
    this.#setSession(await res.json());
  }

  async logout() {
    const refreshToken = this.#refresh;
    if (this.#access !== null) {
      // Best effort: the tokens are dropped locally whatever the answer.
      await this.request("POST", "/api/auth/logout", { json: refreshToken ? { refreshToken } : {} }).catch(() => {});
    }
    this.#clear();
  }

  /**
   * One API call with the bearer token. `json` sends a JSON body, `body` + `contentType` anything else. Resolves
   * with the Response (any 2xx); throws ApiFailure otherwise. A 401 token_expired refreshes once and retries.
   */
  async request(method, path, { json, body, contentType, keepalive = false } = {}, retried = false) {
    if (this.#access === null) throw new ApiFailure(401, "unauthorized", "not signed in");
    const headers = { authorization: `Bearer ${this.#access}` };
    let payload = body;
    if (json !== undefined) {
      headers["content-type"] = "application/json";
      payload = JSON.stringify(json);
    } else if (contentType !== undefined) headers["content-type"] = contentType;
    const res = await fetch(path, { method, headers, body: payload, keepalive });
    if (res.ok) return res;
    const f = await failure(res);
    if (res.status === 401 && f.code === "token_expired" && !retried && this.#refresh !== null) {
      await this.refresh();
      return this.request(method, path, { json, body, contentType, keepalive }, true);
    }
    throw f;
  }

  async getJson(path) {
    return (await this.request("GET", path)).json();
  }

  /** Exchanges the refresh token for a new pair; concurrent callers share one exchange. */
  refresh() {
    this.#refreshing ??= (async () => {
      try {
        const res = await fetch("/api/auth/refresh", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ refreshToken: this.#refresh }),
        });
        if (!res.ok) {
          this.#clear();
          throw await failure(res);
        }
        this.#setSession(await res.json());
      } finally {
        this.#refreshing = null;
      }
    })();
    return this.#refreshing;
  }

  #setSession(s) {
    this.#access = s.accessToken;
    this.#refresh = s.refreshToken;
    this.user = s.user;
    clearTimeout(this.#timer);
    // Refresh at 80 % of the access token's lifetime (expiresIn is in seconds).
    const ms = Math.max(5_000, Math.floor(s.expiresIn * 800));
    this.#timer = setTimeout(() => this.refresh().catch(() => {}), ms);
  }

  #clear() {
    const was = this.#access !== null;
    clearTimeout(this.#timer);
    this.#access = null;
    this.#refresh = null;
    this.user = null;
    if (was) this.onSignedOut();
  }
}

/** An ApiFailure from an error response (ErrorBody JSON when the API produced it). */
export async function failure(res) {
  let code = `http_${res.status}`;
  let message = `${res.status} ${res.statusText}`;
  try {
    const b = await res.json();
    if (b && b.error) {
      code = b.error.code ?? code;
      message = b.error.message ?? message;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiFailure(res.status, code, message);
}
