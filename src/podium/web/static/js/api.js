// The HTTP API: JSON in, JSON out; errors become ApiError with the server's message.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body) {
  // X-Podium-CSRF: the server refuses cookie-authenticated changes without it (a cross-site
  // form cannot send it, and a cross-site script cannot add it).
  const init = {
    method,
    headers: { Accept: "application/json", "X-Podium-CSRF": "1" },
    credentials: "same-origin",
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch("/api/v1" + path, init);
  } catch {
    throw new ApiError(0, "network", "Can't reach the server. Check your connection and try again.");
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) {
    const message = (data && typeof data.message === "string" && data.message)
      || `The server answered ${response.status}.`;
    throw new ApiError(response.status, (data && data.error) || "error", message);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body ?? {});

/** Send raw bytes (e.g. an image) as the body; errors as for api(). */
export async function upload(method, path, blob) {
  let response;
  try {
    response = await fetch("/api/v1" + path, {
      method,
      headers: { Accept: "application/json", "X-Podium-CSRF": "1", "Content-Type": blob.type || "application/octet-stream" },
      credentials: "same-origin",
      body: blob,
    });
  } catch {
    throw new ApiError(0, "network", "Can't reach the server. Check your connection and try again.");
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) {
    const message = (data && typeof data.message === "string" && data.message)
      || (response.status === 413 ? "That file is too large." : `The server answered ${response.status}.`);
    throw new ApiError(response.status, (data && data.error) || "error", message);
  }
  return data;
}
