// The collector's JSON API (collector/API.md), relative to the page so a port-forward or an
// ingress path prefix works.

const BASE = new URL("./", document.baseURI.includes("/ui/") ? new URL("../", document.baseURI) : document.baseURI);

export class ApiError extends Error {}

// GET api/v1/<path> with the given parameters (undefined and empty ones left out).
export async function get(path, params = {}, signal = undefined) {
  const url = new URL(`api/v1/${path}`, BASE);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  let response;
  try {
    response = await fetch(url, { signal, headers: { accept: "application/json" } });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(`the collector did not answer ${url.pathname}: ${e.message}`);
  }
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(`${url.pathname}: HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`);
  }
  if (!response.ok) throw new ApiError(`${url.pathname}: ${body.error ?? `HTTP ${response.status}`}`);
  return body;
}

// A loader that aborts the previous request when a newer one starts.
export function latest() {
  let controller = null;
  return async (path, params) => {
    controller?.abort();
    controller = new AbortController();
    return get(path, params, controller.signal);
  };
}
