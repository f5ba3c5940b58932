// The /v1 API with the operator's bearer token.
//
// The token lives in sessionStorage: it survives a reload of the tab but not closing
// it, and other tabs and other programs on the duty-room PC never see it.

const TOKEN_KEY = "jiaoying.token";
const PAGE = 500; // the API's largest page: one request for a township-sized warning

/** The API refused the token (401): the operator must sign in again. */
export class Unauthorized extends Error {}

/** Any other refusal; `status` and the API's own reason in `message`. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function savedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

async function call(path, options = {}, token = savedToken()) {
  const response = await fetch(path, {
    ...options,
    // no-store: a poll must see the store as it is now, never a cached answer.
    cache: "no-store",
    headers: { ...options.headers, Authorization: `Bearer ${token}` },
  });
  if (response.status === 401) throw new Unauthorized("令牌无效或已被撤销");
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new ApiError(response.status, body.error || `服务返回 ${response.status}`);
  }
  return response;
}

export async function getJson(path, token) {
  return (await call(path, {}, token)).json();
}

/** POST a JSON body; resolves to {status, body} so a caller can tell 201 from 200. */
export async function postJson(path, body) {
  const response = await call(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** Every item of a paged list, following `next` until the last page. */
export async function getAll(path, key) {
  const items = [];
  const separator = path.includes("?") ? "&" : "?";
  let cursor = null;
  do {
    const query = `${separator}limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page = await getJson(path + query);
    items.push(...page[key]);
    cursor = page.next;
  } while (cursor);
  return items;
}

/**
 * Download a file the API serves. A plain link cannot carry the bearer token, so the
 * file is fetched and handed to the browser's download from memory.
 */
export async function download(path, fallbackName) {
  const response = await call(path);
  const disposition = response.headers.get("Content-Disposition") || "";
  const utf8Name = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  const name = utf8Name ? decodeURIComponent(utf8Name[1]) : fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked later, not at once: the browser reads the blob after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
