/* Calls to the builder API with the browser session and its CSRF token. */
export function csrf() {
  const m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.getAttribute("content") : "";
}

/* The page's language, so the API answers (messages, plan wording) in it whatever the browser's Accept-Language. */
function withLang(url) {
  const lang = document.documentElement.lang === "en" ? "en" : "zh";
  return `${url}${url.indexOf("?") >= 0 ? "&" : "?"}lang=${lang}`;
}

export async function call(method, url, body) {
  const opts = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf(), Accept: "application/json" } };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  let res;
  try {
    res = await fetch(withLang(url), opts);
  } catch (e) {
    return { ok: false, status: 0, data: { error: { code: "network", message: String(e) } } };
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  return { ok: res.ok, status: res.status, data };
}

export function errorText(res) {
  return (res.data && res.data.error && res.data.error.message) || `HTTP ${res.status}`;
}
