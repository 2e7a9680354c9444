// The REST API as the console calls it: the token from sessionStorage in the
// Authorization header (never in a URL), errors as ApiError with the house code.

const KEY = "stats-service.console.token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  token: () => sessionStorage.getItem(KEY),
  save: (token) => sessionStorage.setItem(KEY, token),
  forget: () => sessionStorage.removeItem(KEY),
};

export function authHeaders() {
  return { Authorization: `Token ${session.token()}` };
}

export async function api(path, { method = "GET", body, params } = {}) {
  let url = path;
  if (params) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      for (const one of [].concat(value)) if (one !== "" && one != null) query.append(key, one);
    }
    if ([...query].length) url += `?${query}`;
  }
  const headers = { ...authHeaders(), Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store", credentials: "omit",
    });
  } catch (error) {
    throw new ApiError(0, "network", "the service cannot be reached");
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    throw new ApiError(response.status, error.code || "error",
      error.message || `HTTP ${response.status}`);
  }
  return data;
}
