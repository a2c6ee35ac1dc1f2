// minga's web page: a client of the node's JSON API (docs/API.md), with no framework and no
// build step. Everything shown comes from the API; nothing here decides what is valid.
// Text from the network is only ever set as text (never as HTML).
"use strict";

// ---------------------------------------------------------------- words, in two languages
const WORDS = {
  en: {
    skip: "Skip to content", nav: "Sections", board: "Board", map: "Map", inbox: "Inbox",
    verify: "Verify", import: "Import / export", coop: "Co-op", lang: "Español",
    needs: "Needs", offers: "Offers", kind: "Kind", category: "Category", urgency: "Urgency (at least)",
    status: "Status", any: "any", coopf: "Co-op", near: "Near (lat,lon)", radius: "Radius (km)",
    untilBefore: "Ends on or before", unpledged: "Not yet pledged", urgencyCol: "Urgency", location: "Location", minimum: "Minimum",
    from: "From", until: "Until", expires: "Expires", notes: "Notes", radius_km: "Radius (km)", apply: "Apply", title: "Title", quantity: "Quantity",
    remaining: "Pledged / delivered", place: "Place", neededBy: "Needed by", shown: "Showing {a}–{b} of {n}",
    none: "Nothing matches.", prev: "Previous", next: "Next", exportCsv: "Download these as CSV",
    signin: "Sign in", signinText: "This page needs a session. On the node's machine run `minga open`, and open the link it prints.",
    error: "Something went wrong", record: "Record", related: "Pledges, answers and deliveries",
    edit: "Edit", save: "Save", withdraw: "Withdraw", matches: "Matches", bundle: "Download the signed bundle",
    mergeNote: "Edits merge field by field: two members changing different fields both keep their change; the same field takes one of them, the same on every node.",
    saved: "Saved.", withdrawn: "Withdrawn.", ranked: "Offers for this need, best first",
    score: "Score", reasons: "Why", pledge: "Pledge", pledgeQty: "Quantity to pledge",
    pledged: "Pledged.", notYours: "Only the offering co-op's members pledge from this offer.",
    plan: "Allocation plan", need: "Need", offer: "Offer", distance: "Distance (km)",
    toUs: "Pledges to our needs", byUs: "Pledges we made", accept: "Accept", decline: "Decline",
    deliver: "Record a delivery", delivered: "Delivered", answered: "Answered.", recorded: "Recorded.",
    dropBundle: "Drop a bundle file here, or choose one", valid: "Valid", invalid: "INVALID: do not rely on this commitment",
    signer: "Signer", role: "Role", signed: "Signed", chooseCsv: "Choose a CSV file of offers and needs",
    importBtn: "Import", imported: "Imported {n} records.", csvCols: "Columns: kind, title, category, quantity, minimum, location, place, radius_km, from, until, urgency, expires, notes. Every row is checked first; one bad row imports nothing.",
    members: "Members", key: "Key", revoke: "Revoke", certify: "Certify a key", certified: "Certified.",
    revoked: "Revoked.", coops: "Co-ops this node replicates", peers: "Peers", networks: "Networks",
    asks: "Asking to join", vouch: "Vouch", vouched: "Vouched.", admitted: "Admitted",
    node: "Node", you: "This node's co-op", lastSync: "Last catch-up", newRecord: "Updated: {what}",
    newMatch: "New match for a need: score {s}", open: "open", partly_pledged: "partly pledged",
    pledgedS: "pledged", fulfilled: "fulfilled", proposed: "proposed", accepted: "accepted",
    declined: "declined", partly_fulfilled: "partly fulfilled", withdrawnS: "withdrawn", expired: "expired",
    over_pledged: "over-pledged", cancelled: "cancelled", low: "low", normal: "normal", high: "high",
    critical: "critical", mapNote: "Points are drawn on plain coordinates (no map tiles are fetched). Red: needs; green: offers.",
    withLocation: "{n} needs and offers have a location.", by: "by", note: "Note",
  },
  es: {
    skip: "Ir al contenido", nav: "Secciones", board: "Tablero", map: "Mapa", inbox: "Bandeja",
    verify: "Verificar", import: "Importar / exportar", coop: "Cooperativa", lang: "English",
    needs: "Necesidades", offers: "Ofertas", kind: "Tipo", category: "Categoría", urgency: "Urgencia (mínima)",
    status: "Estado", any: "cualquiera", coopf: "Cooperativa", near: "Cerca de (lat,lon)", radius: "Radio (km)",
    untilBefore: "Termina el o antes del", unpledged: "Sin compromisos todavía", urgencyCol: "Urgencia", location: "Ubicación", minimum: "Mínimo",
    from: "Desde", until: "Hasta", expires: "Vence", notes: "Notas", radius_km: "Radio (km)", apply: "Aplicar", title: "Título", quantity: "Cantidad",
    remaining: "Comprometido / entregado", place: "Lugar", neededBy: "Para", shown: "Mostrando {a}–{b} de {n}",
    none: "No hay resultados.", prev: "Anterior", next: "Siguiente", exportCsv: "Descargar como CSV",
    signin: "Ingresar", signinText: "Esta página necesita una sesión. En la máquina del nodo ejecutá `minga open` y abrí el enlace que imprime.",
    error: "Algo salió mal", record: "Registro", related: "Compromisos, respuestas y entregas",
    edit: "Editar", save: "Guardar", withdraw: "Retirar", matches: "Coincidencias", bundle: "Descargar el paquete firmado",
    mergeNote: "Las ediciones se combinan campo por campo: si dos integrantes cambian campos distintos, quedan los dos cambios; en el mismo campo queda uno, igual en todos los nodos.",
    saved: "Guardado.", withdrawn: "Retirado.", ranked: "Ofertas para esta necesidad, la mejor primero",
    score: "Puntaje", reasons: "Por qué", pledge: "Comprometer", pledgeQty: "Cantidad a comprometer",
    pledged: "Compromiso hecho.", notYours: "Solo integrantes de la cooperativa que ofrece comprometen desde esta oferta.",
    plan: "Plan de asignación", need: "Necesidad", offer: "Oferta", distance: "Distancia (km)",
    toUs: "Compromisos con nuestras necesidades", byUs: "Compromisos que hicimos", accept: "Aceptar", decline: "Rechazar",
    deliver: "Registrar una entrega", delivered: "Entregado", answered: "Respondido.", recorded: "Registrado.",
    dropBundle: "Soltá aquí un paquete, o elegí un archivo", valid: "Válido", invalid: "INVÁLIDO: no confíes en este compromiso",
    signer: "Firmante", role: "Rol", signed: "Firmado", chooseCsv: "Elegí un CSV de ofertas y necesidades",
    importBtn: "Importar", imported: "Se importaron {n} registros.", csvCols: "Columnas: kind, title, category, quantity, minimum, location, place, radius_km, from, until, urgency, expires, notes. Se revisa cada fila antes; una fila mala no importa nada.",
    members: "Integrantes", key: "Clave", revoke: "Revocar", certify: "Certificar una clave", certified: "Certificada.",
    revoked: "Revocada.", coops: "Cooperativas que replica este nodo", peers: "Pares", networks: "Redes",
    asks: "Piden entrar", vouch: "Avalar", vouched: "Avalada.", admitted: "Admitidas",
    node: "Nodo", you: "La cooperativa de este nodo", lastSync: "Última sincronización", newRecord: "Actualizado: {what}",
    newMatch: "Nueva coincidencia para una necesidad: puntaje {s}", open: "abierta", partly_pledged: "comprometida en parte",
    pledgedS: "comprometida", fulfilled: "cumplida", proposed: "propuesto", accepted: "aceptado",
    declined: "rechazado", partly_fulfilled: "cumplido en parte", withdrawnS: "retirada", expired: "vencida",
    over_pledged: "sobrecomprometida", cancelled: "cancelado", low: "baja", normal: "normal", high: "alta",
    critical: "crítica", mapNote: "Los puntos se dibujan sobre coordenadas (no se descarga ningún mapa). Rojo: necesidades; verde: ofertas.",
    withLocation: "{n} necesidades y ofertas tienen ubicación.", by: "por", note: "Nota",
  },
};
let lang = localStorage.getItem("minga-lang") ||
  ((navigator.languages || [navigator.language || "en"]).some((l) => /^es\b/i.test(l)) ? "es" : "en");
function t(key, vars) {
  let s = (WORDS[lang] && WORDS[lang][key]) || WORDS.en[key] || key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replace("{" + k + "}", String(v));
  return s;
}
function statusWord(s) {
  const map = { pledged: "pledgedS", withdrawn: "withdrawnS" };
  return s ? t(map[s] || s) : "";
}

// ---------------------------------------------------------------- building the page
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const main = () => document.getElementById("main");
function show(...nodes) {
  main().replaceChildren(...nodes.flat(2).filter((n) => n !== null && n !== undefined && n !== false));
}
function alertBox(kind, message, hint) {
  return h("div", { class: "alert " + kind, role: kind === "bad" ? "alert" : "status" },
    h("strong", {}, message), hint ? h("pre", {}, hint) : null);
}
function short(id) { return (id || "").slice(0, 12); }
function link(href, text) { return h("a", { href }, text); }
function refOf(r) {
  if (!r) return null;
  if (typeof r === "string") { const [coop, record] = r.split("/"); return { coop, record }; }
  return r;
}

// ---------------------------------------------------------------- the API
class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || ("HTTP " + status));
    this.status = status; this.code = e.code; this.hint = e.hint;
  }
}
async function api(method, path, body, contentType) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = contentType || "application/json";
    opts.body = contentType ? body : JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (!r.ok) throw new ApiError(r.status, data);
  return { data, total: Number(r.headers.get("x-total-count") || NaN) };
}
const get = async (path) => (await api("GET", path)).data;
let home = null; // { coop, role }
async function whoami() {
  const s = await get("/v1/status");
  home = { coop: s.coop, role: s.role, status: s };
  return home;
}
function failed(e) {
  if (e instanceof ApiError && e.status === 401) {
    show(h("h1", {}, t("signin")), alertBox("info", t("signinText")));
    return;
  }
  const box = alertBox("bad", t("error") + ": " + e.message, e.hint);
  main().prepend(box);
  box.scrollIntoView({ block: "nearest" });
}
// Runs an action from a button or form: errors shown, the button disabled meanwhile.
async function act(button, work, done, rerender = true) {
  if (button) button.disabled = true;
  try {
    await work();
    if (done) say(done);
    if (rerender) await route();
  } catch (e) { failed(e); } finally { if (button) button.disabled = false; }
}
function say(message) {
  const live = document.getElementById("live");
  live.textContent = message;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { live.textContent = ""; }, 6000);
}

// ---------------------------------------------------------------- navigation
const SCREENS = [["board", "#/board"], ["map", "#/map"], ["inbox", "#/inbox"],
  ["verify", "#/verify"], ["import", "#/import"], ["coop", "#/coop"]];
function drawChrome() {
  document.documentElement.lang = lang === "es" ? "es-AR" : "en";
  document.getElementById("skip").textContent = t("skip");
  const nav = document.getElementById("nav");
  nav.setAttribute("aria-label", t("nav"));
  const here = (location.hash || "#/board").split("?")[0].split("/")[1];
  nav.replaceChildren(...SCREENS.map(([k, href]) =>
    h("a", { href, "aria-current": here === k ? "page" : null }, t(k))));
  const b = document.getElementById("lang");
  b.textContent = t("lang");
  b.onclick = () => { lang = lang === "es" ? "en" : "es"; localStorage.setItem("minga-lang", lang); route(); };
}
function params() {
  const q = (location.hash.split("?")[1]) || "";
  return new URLSearchParams(q);
}
async function route() {
  drawChrome();
  const [path] = (location.hash || "#/board").slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  try {
    if (!home) await whoami();
    switch (parts[0] || "board") {
      case "board": return await board(params());
      case "map": return await mapScreen();
      case "record": return await recordScreen(parts[1]);
      case "matches": return await matchesScreen(parts[1]);
      case "inbox": return await inbox();
      case "verify": return verifyScreen();
      case "import": return importScreen();
      case "coop": return await coopScreen();
      default: return await board(params());
    }
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) show(h("h1", {}, t("error")));
    failed(e);
  }
}

// ---------------------------------------------------------------- board
const PAGE = 50;
function boardQuery(p, extra) {
  const q = new URLSearchParams();
  q.set("kind", p.get("kind") || "need");
  for (const k of ["category", "urgency", "coop", "near", "radius", "until_before"]) if (p.get(k)) q.set(k, p.get(k));
  if (p.get("unpledged")) q.set("status", "open");
  else if (p.get("status")) q.set("status", p.get("status"));
  q.set("sort", "urgency");
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return q;
}
async function board(p) {
  const offset = Number(p.get("offset") || 0);
  const q = boardQuery(p, { limit: PAGE, offset });
  const [{ data: rows, total }, coops] = await Promise.all([api("GET", "/v1/records?" + q), get("/v1/coops")]);
  const field = (name, label, input) => h("label", {}, label, input);
  const sel = (name, options) => h("select", { name },
    options.map(([v, l]) => h("option", { value: v, selected: (p.get(name) || "") === v }, l)));
  const form = h("form", { class: "filters", role: "search", onsubmit: (ev) => {
      ev.preventDefault();
      const f = new URLSearchParams();
      for (const [k, v] of new FormData(ev.target)) if (v) f.set(k, v);
      location.hash = "#/board?" + f;
    } },
    field("kind", t("kind"), sel("kind", [["need", t("needs")], ["offer", t("offers")]])),
    field("category", t("category"), h("input", { name: "category", value: p.get("category") || "", placeholder: "food/grain", size: 14 })),
    field("urgency", t("urgency"), sel("urgency", [["", t("any")], ...["low", "normal", "high", "critical"].map((u) => [u, t(u)])])),
    field("status", t("status"), sel("status", [["", t("any")], ...["open", "partly_pledged", "pledged", "fulfilled"].map((s) => [s, statusWord(s)])])),
    field("coop", t("coopf"), sel("coop", [["", t("any")], ...coops.map((c) => [c.id, c.name])])),
    field("near", t("near"), h("input", { name: "near", value: p.get("near") || "", placeholder: "-32.95,-60.66", size: 16 })),
    field("radius", t("radius"), h("input", { name: "radius", value: p.get("radius") || "", inputmode: "numeric", size: 5 })),
    field("until_before", t("untilBefore"), h("input", { type: "date", name: "until_before", value: p.get("until_before") || "" })),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "unpledged", value: "1", checked: !!p.get("unpledged") }), t("unpledged")),
    h("button", { type: "submit" }, t("apply")));
  const names = Object.fromEntries(coops.map((c) => [c.id, c.name]));
  const table = rows.length === 0 ? h("p", {}, t("none")) : h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, [t("title"), t("category"), t("quantity"), t("remaining"), t("urgencyCol"), t("status"), t("coopf")]
      .map((c, i) => h("th", { scope: "col", class: i === 1 || i === 3 ? "hide-narrow" : null }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {},
      h("td", {}, h("span", { class: "badge " + r.kind }, r.kind === "need" ? t("need") : t("offer")), " ", link("#/record/" + r.id, r.title || short(r.id))),
      h("td", { class: "hide-narrow" }, r.category || ""),
      h("td", {}, r.quantity || ""),
      h("td", { class: "hide-narrow" }, [r.pledged, r.delivered].filter(Boolean).join(" / ")),
      h("td", {}, r.urgency ? t(r.urgency) : ""),
      h("td", {}, statusWord(r.status)),
      h("td", {}, names[r.coop] || short(r.coop)))))));
  const nav = (label, to, disabled) => h("button", { type: "button", class: "secondary", disabled,
    onclick: () => { const n = new URLSearchParams(p); n.set("offset", String(to)); location.hash = "#/board?" + n; } }, label);
  const n = Number.isFinite(total) ? total : rows.length;
  show(h("h1", {}, t("board")), form,
    h("div", { class: "pager" },
      h("span", { id: "count" }, t("shown", { a: rows.length ? offset + 1 : 0, b: offset + rows.length, n })),
      nav(t("prev"), Math.max(0, offset - PAGE), offset === 0),
      nav(t("next"), offset + PAGE, offset + PAGE >= n),
      h("button", { type: "button", class: "secondary", onclick: () => downloadBoard(p) }, t("exportCsv"))),
    table);
}
function csvCell(v) {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}
function download(name, type, text) {
  const a = h("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a); a.click(); a.remove();
}
async function downloadBoard(p) {
  const rows = await get("/v1/records?" + boardQuery(p, { limit: 10000 }));
  const cols = ["id", "coop", "kind", "status", "title", "category", "quantity", "pledged", "delivered", "urgency", "point", "until"];
  const text = [cols.join(","), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(","))].join("\r\n") + "\r\n";
  download("minga-board.csv", "text/csv", text);
}

// ---------------------------------------------------------------- map
async function mapScreen() {
  const [needs, offers] = await Promise.all([
    get("/v1/records?kind=need&limit=10000"), get("/v1/records?kind=offer&limit=10000")]);
  const points = [...needs, ...offers].map((r) => {
    const [lat, lon] = (r.point || "").split(",").map(Number);
    return Number.isFinite(lat) && Number.isFinite(lon) ? { r, lat, lon } : null;
  }).filter(Boolean);
  const W = 800, H = 500, pad = 30;
  let [minLat, maxLat, minLon, maxLon] = [-60, 15, -80, -30]; // South America when empty
  if (points.length) {
    minLat = Math.min(...points.map((p) => p.lat)); maxLat = Math.max(...points.map((p) => p.lat));
    minLon = Math.min(...points.map((p) => p.lon)); maxLon = Math.max(...points.map((p) => p.lon));
    const m = Math.max(0.05, (maxLat - minLat) * 0.1, (maxLon - minLon) * 0.1);
    minLat -= m; maxLat += m; minLon -= m; maxLon += m;
  }
  // Equirectangular, with longitude shrunk by the cosine of the middle latitude so distances
  // look right, fitted to the box with the same scale both ways.
  const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const scale = Math.min((W - 2 * pad) / ((maxLon - minLon) * k), (H - 2 * pad) / (maxLat - minLat));
  const x0 = W / 2 - ((minLon + maxLon) / 2) * k * scale, y0 = H / 2 + ((minLat + maxLat) / 2) * scale;
  const x = (lon) => x0 + lon * k * scale;
  const y = (lat) => y0 - lat * scale;
  minLon = (pad - x0) / (k * scale); maxLon = (W - pad - x0) / (k * scale);
  minLat = (y0 - (H - pad)) / scale; maxLat = (y0 - pad) / scale;
  const NS = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, ...kids) => {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    for (const k of kids) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return el;
  };
  const svg = s("svg", { class: "map", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": t("map") });
  const step = (span) => [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 20].find((d) => span / d <= 8) || 30;
  const dLat = step(maxLat - minLat), dLon = step(maxLon - minLon);
  for (let la = Math.ceil(minLat / dLat) * dLat; la <= maxLat; la += dLat) {
    svg.append(s("line", { class: "grid", x1: pad, x2: W - pad, y1: y(la), y2: y(la) }),
      s("text", { class: "label", x: 2, y: y(la) + 3 }, la.toFixed(2)));
  }
  for (let lo = Math.ceil(minLon / dLon) * dLon; lo <= maxLon; lo += dLon) {
    svg.append(s("line", { class: "grid", y1: pad, y2: H - pad, x1: x(lo), x2: x(lo) }),
      s("text", { class: "label", y: H - 8, x: x(lo) - 12 }, lo.toFixed(2)));
  }
  for (const p of points) {
    const a = s("a", { href: "#/record/" + p.r.id, "aria-label": (p.r.kind === "need" ? t("need") : t("offer")) + ": " + (p.r.title || "") });
    a.append(s("circle", { class: p.r.kind, cx: x(p.lon), cy: y(p.lat), r: 7 }, s("title", {}, p.r.title || "")));
    if (points.length <= 200) a.append(s("text", { class: "label", x: x(p.lon) + 10, y: y(p.lat) + 4 }, (p.r.title || "").slice(0, 28)));
    svg.append(a);
  }
  show(h("h1", {}, t("map")), h("p", { class: "muted" }, t("mapNote")),
    h("p", { id: "located" }, t("withLocation", { n: points.length })), svg);
}

// ---------------------------------------------------------------- one record
async function recordScreen(id) {
  const d = await get("/v1/records/" + encodeURIComponent(id));
  const mine = home && d.coop === home.coop;
  const fields = d.record || {};
  const coops = await get("/v1/coops");
  const coopName = (id) => (coops.find((c) => c.id === id) || {}).name || short(id);
  const dl = h("dl", { class: "fields" });
  const add = (k, v) => { if (v !== null && v !== undefined && v !== "" && v !== false) dl.append(h("dt", {}, k), h("dd", {}, String(v))); };
  add(t("kind"), d.kind); add(t("status"), statusWord(d.status)); add(t("coopf"), coopName(d.coop));
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v === "object" || k === "withdrawn") continue;
    add(k === "urgency" ? t("urgencyCol") : k in WORDS.en ? t(k) : k, k === "urgency" ? t(v) : v);
  }
  if (d.pledged) add(t("remaining"), d.pledged + " / " + (d.delivered || "0"));
  const out = [h("h1", {}, (d.kind === "need" ? t("need") : d.kind === "offer" ? t("offer") : d.kind) + ": " + (d.title || short(d.id))), dl];
  const pledgeRef = refOf(d.refers_to);
  if (d.kind === "need") out.push(h("p", {}, link("#/matches/" + d.id, t("matches"))));
  if (["pledge", "acceptance", "delivery", "cancellation"].includes(d.kind)) {
    out.push(h("p", {}, h("a", { href: "/v1/records/" + d.id + "/bundle", download: d.kind + "-" + short(d.id) + ".json" }, t("bundle"))));
  }
  if (d.kind === "pledge" && pledgeRef) out.push(h("p", {}, link("#/record/" + pledgeRef.record, t("need"))));
  if (d.kind === "pledge" && pledgeRef && home && pledgeRef.coop === home.coop) out.push(answerForms(d));
  if (mine && (d.kind === "offer" || d.kind === "need") && !d.withdrawn) out.push(editForm(d, fields));
  out.push(h("h2", {}, t("related")));
  out.push((d.related || []).length === 0 ? h("p", {}, t("none")) : h("ul", {}, d.related.map((r) =>
    h("li", {}, link("#/record/" + r.id, r.kind + " " + short(r.id)), " ", r.quantity || "", " ", statusWord(r.status), r.decision ? " (" + r.decision + ")" : ""))));
  show(...out);
}
function editForm(d, f) {
  const input = (name, value, label) => h("label", {}, label, h("input", { name, value: value || "" }));
  const form = h("form", { class: "card", "aria-labelledby": "edit-h", onsubmit: (ev) => {
      ev.preventDefault();
      const body = {};
      for (const [k, v] of new FormData(ev.target)) if ((f[k] || "") !== v) body[k] = v;
      act(ev.submitter, () => api("PATCH", "/v1/records/" + d.id, body), t("saved"));
    } },
    h("h2", { id: "edit-h" }, t("edit")),
    h("div", { class: "row" },
      input("title", f.title, t("title")), input("quantity", f.quantity, t("quantity")),
      d.kind === "need" ? h("label", {}, t("urgency"), h("select", { name: "urgency" },
        ["low", "normal", "high", "critical"].map((u) => h("option", { value: u, selected: f.urgency === u }, t(u))))) : null,
      input("until", f.until, t("neededBy")), input("notes", f.notes, t("note")),
      h("button", { type: "submit" }, t("save")),
      h("button", { type: "button", class: "secondary", onclick: (ev) =>
        act(ev.target, () => api("POST", "/v1/records/" + d.id + "/withdraw", {}), t("withdrawn")) }, t("withdraw"))),
    h("p", { class: "muted" }, t("mergeNote")));
  return form;
}
function answerForms(p) {
  const box = h("div", { class: "card" });
  if (p.status === "proposed") {
    box.append(h("div", { class: "row" },
      h("button", { type: "button", onclick: (ev) => act(ev.target, () => api("POST", "/v1/pledges/" + p.id + "/answer", { decision: "accept" }), t("answered")) }, t("accept")),
      h("button", { type: "button", class: "secondary", onclick: (ev) => act(ev.target, () => api("POST", "/v1/pledges/" + p.id + "/answer", { decision: "decline" }), t("answered")) }, t("decline"))));
  }
  if (p.status === "accepted" || p.status === "partly_fulfilled") {
    box.append(h("form", { class: "row", onsubmit: (ev) => {
        ev.preventDefault();
        const quantity = new FormData(ev.target).get("quantity");
        act(ev.submitter, () => api("POST", "/v1/pledges/" + p.id + "/deliveries", { quantity }), t("recorded"));
      } },
      h("label", {}, t("deliver"), h("input", { name: "quantity", placeholder: p.quantity || "", required: true })),
      h("button", { type: "submit" }, t("deliver"))));
  }
  return box.childElementCount ? box : null;
}

// ---------------------------------------------------------------- matches and the plan
async function matchesScreen(needId) {
  const [found, need] = await Promise.all([
    get("/v1/match?need=" + encodeURIComponent(needId) + "&limit=10"), get("/v1/records/" + encodeURIComponent(needId))]);
  const rows = (found[0] && found[0].matches) || [];
  const cards = rows.map((m) => {
    const o = m.offer;
    const ours = home && o.coop === home.coop;
    return h("div", { class: "card" },
      h("div", {}, h("strong", {}, t("score") + " " + Number(m.score).toFixed(1)), " ",
        link("#/record/" + o.id, o.title || short(o.id)), " — ", o.remaining || "", " ", o.category || ""),
      h("ul", { class: "reasons", "aria-label": t("reasons") }, (m.reasons || []).map((r) => h("li", {}, r.factor + ": " + r.text))),
      ours ? h("form", { class: "row", onsubmit: (ev) => {
          ev.preventDefault();
          const quantity = new FormData(ev.target).get("quantity");
          act(ev.submitter, () => api("POST", "/v1/pledges", { need: need.id, quantity, offer: o.id }), t("pledged"));
        } },
        h("label", {}, t("pledgeQty"), h("input", { name: "quantity", value: need.quantity || "", required: true })),
        h("button", { type: "submit" }, t("pledge"))) : h("p", { class: "muted" }, t("notYours")));
  });
  const plan = await get("/v1/plan");
  const props = plan.proposals || [];
  const planTable = h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, [t("need"), t("offer"), t("quantity"), t("distance")].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, props.map((p) => h("tr", {},
      h("td", {}, link("#/record/" + p.need.id, p.need.title || short(p.need.id))),
      h("td", {}, link("#/record/" + p.offer.id, p.offer.title || short(p.offer.id))),
      h("td", {}, p.quantity), h("td", {}, p.distance_km === null || p.distance_km === undefined ? "?" : Number(p.distance_km).toFixed(0)))))));
  const planCsv = () => download("minga-plan.csv", "text/csv", ["need,need_title,offer,offer_title,quantity,distance_km",
    ...props.map((p) => [p.need.id, p.need.title, p.offer.id, p.offer.title, p.quantity, p.distance_km].map(csvCell).join(","))].join("\r\n") + "\r\n");
  show(h("h1", {}, t("matches") + ": " + (need.title || short(need.id))), h("h2", {}, t("ranked")),
    cards.length ? cards : h("p", {}, t("none")),
    h("h2", {}, t("plan")), planTable,
    h("button", { type: "button", class: "secondary", onclick: planCsv }, t("exportCsv")));
}

// ---------------------------------------------------------------- inbox
async function inbox() {
  const [pledges, needs, coops] = await Promise.all([
    get("/v1/records?kind=pledge&all=true&limit=10000"),
    get("/v1/records?kind=need&all=true&limit=10000"), get("/v1/coops")]);
  const titles = Object.fromEntries(needs.map((n) => [n.id, n.title]));
  const names = Object.fromEntries(coops.map((c) => [c.id, c.name]));
  const toUs = pledges.filter((p) => { const r = refOf(p.refers_to); return r && home && r.coop === home.coop; });
  const byUs = pledges.filter((p) => home && p.coop === home.coop);
  const item = (p, answer) => {
    const need = refOf(p.refers_to) || {};
    return h("div", { class: "card pledge", "data-id": p.id },
      h("div", {}, link("#/record/" + p.id, p.quantity || t("pledge")), " → ",
        link("#/record/" + need.record, titles[need.record] || short(need.record)),
        " — " + (answer ? names[p.coop] || short(p.coop) : names[need.coop] || short(need.coop)) + " — ",
        h("strong", { class: "status" }, statusWord(p.status)),
        p.delivered && p.delivered !== "0 " + (p.quantity || "").split(" ")[1] ? " — " + t("delivered") + " " + p.delivered : ""),
      answer ? answerForms(p) : null);
  };
  show(h("h1", {}, t("inbox")),
    h("h2", {}, t("toUs")), toUs.length ? toUs.map((p) => item(p, true)) : h("p", {}, t("none")),
    h("h2", {}, t("byUs")), byUs.length ? byUs.map((p) => item(p, false)) : h("p", {}, t("none")));
}

// ---------------------------------------------------------------- verify
function verifyScreen() {
  const result = h("div", { id: "verdict", "aria-live": "polite" });
  const check = async (file) => {
    result.replaceChildren();
    try {
      const text = await file.text();
      const v = (await api("POST", "/v1/verify", text, "application/json")).data;
      if (v.valid) {
        result.append(alertBox("ok", t("valid") + ": " + v.kind),
          h("dl", { class: "fields" }, h("dt", {}, t("signer")), h("dd", {}, v.signer),
            h("dt", {}, t("coopf")), h("dd", {}, v.coop_name + " (" + short(v.coop) + ")"),
            h("dt", {}, t("role")), h("dd", {}, v.role), h("dt", {}, t("signed")), h("dd", {}, v.issued)),
          h("pre", {}, v.statement));
      } else {
        result.append(alertBox("bad", t("invalid"), v.reason));
      }
    } catch (e) { result.append(alertBox("bad", t("error") + ": " + e.message, e.hint)); }
  };
  const input = h("input", { type: "file", id: "bundle-file", accept: ".json,application/json", onchange: (ev) => ev.target.files[0] && check(ev.target.files[0]) });
  const zone = h("div", { class: "drop", ondragover: (ev) => { ev.preventDefault(); zone.classList.add("over"); },
    ondragleave: () => zone.classList.remove("over"),
    ondrop: (ev) => { ev.preventDefault(); zone.classList.remove("over"); if (ev.dataTransfer.files[0]) check(ev.dataTransfer.files[0]); } },
    h("label", { for: "bundle-file" }, t("dropBundle")), input);
  show(h("h1", {}, t("verify")), zone, result);
}

// ---------------------------------------------------------------- import and export
function importScreen() {
  const result = h("div", { id: "import-result", "aria-live": "polite" });
  const input = h("input", { type: "file", id: "csv-file", accept: ".csv,text/csv" });
  const form = h("form", { class: "card", onsubmit: (ev) => {
      ev.preventDefault();
      const file = input.files[0];
      if (!file) return;
      result.replaceChildren();
      act(ev.submitter, async () => {
        try {
          const r = (await api("POST", "/v1/import.csv", await file.text(), "text/csv")).data;
          result.append(alertBox("ok", t("imported", { n: r.imported })));
        } catch (e) { result.append(alertBox("bad", e.message, e.hint)); }
      }, null, false);
    } },
    h("label", { for: "csv-file" }, t("chooseCsv")), input, h("p", { class: "muted" }, t("csvCols")),
    h("button", { type: "submit" }, t("importBtn")));
  show(h("h1", {}, t("import")), form, result,
    h("p", {}, h("button", { type: "button", class: "secondary", onclick: () => downloadBoard(new URLSearchParams()) }, t("exportCsv"))));
}

// ---------------------------------------------------------------- the co-op
async function coopScreen() {
  const [members, coops, peers, nets] = await Promise.all([
    get("/v1/members").catch(() => []), get("/v1/coops"), get("/v1/peers"), get("/v1/networks")]);
  const admin = home && home.role === "admin";
  const s = home.status;
  const memberRows = members.map((m) => h("tr", {}, h("td", {}, h("code", {}, m.key)), h("td", {}, m.role || "—"),
    h("td", {}, m.revoked ? "revoked " + m.revoked : (admin && !m.founder && m.role ? h("button", { type: "button", class: "secondary",
      onclick: (ev) => act(ev.target, () => api("POST", "/v1/members/revoke", { key: m.key }), t("revoked")) }, t("revoke")) : ""))));
  const certify = admin ? h("form", { class: "row card", onsubmit: (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      act(ev.submitter, () => api("POST", "/v1/members", { key: f.get("key"), role: f.get("role") }), t("certified"));
    } },
    h("label", {}, t("key"), h("input", { name: "key", placeholder: "did:key:z6Mk…", required: true, size: 50 })),
    h("label", {}, t("role"), h("select", { name: "role" }, ["member", "coordinator"].map((r) => h("option", { value: r }, r)))),
    h("button", { type: "submit" }, t("certify"))) : null;
  const netCards = nets.map((n) => h("div", { class: "card" },
    h("strong", {}, n.name || short(n.id)), " ", h("code", {}, short(n.id)),
    h("p", {}, t("admitted") + ": " + (n.admitted || []).map((c) => c.name || short(c.coop)).join(", ")),
    (n.requests || []).length ? h("div", {}, h("p", {}, t("asks") + ":"), n.requests.map((r) => h("div", { class: "row" },
      h("span", {}, r.name + " (" + short(r.coop) + "): " + r.note),
      admin ? h("button", { type: "button", onclick: (ev) => act(ev.target, () => api("POST", "/v1/networks/" + n.id + "/vouches", { coop: r.coop }), t("vouched")) }, t("vouch")) : null))) : null));
  show(h("h1", {}, t("coop")),
    h("dl", { class: "fields" }, h("dt", {}, t("you")), h("dd", {}, (s.coop || "—") + " (" + (s.role || "—") + ")"),
      h("dt", {}, t("node")), h("dd", {}, s.node), h("dt", {}, t("lastSync")), h("dd", {}, s.last_synced || "—")),
    h("h2", {}, t("members")), h("div", { class: "table-wrap" }, h("table", {}, h("tbody", {}, memberRows))), certify,
    h("h2", {}, t("networks")), netCards.length ? netCards : h("p", {}, t("none")),
    h("h2", {}, t("coops")), h("ul", {}, coops.map((c) => h("li", {}, c.name + " ", h("code", {}, short(c.id)), " — " + c.entries + " entries"))),
    h("h2", {}, t("peers")), h("ul", {}, peers.map((p) => h("li", {}, h("code", {}, p.peer), p.last_synced ? " — " + p.last_synced : ""))));
}

// ---------------------------------------------------------------- live
function live() {
  if (!window.EventSource) return;
  const events = new EventSource("/v1/events");
  let pending = null;
  const refresh = () => {
    clearTimeout(pending);
    pending = setTimeout(() => {
      // Never under a user's typing: a form being filled keeps its values.
      const busy = document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
      if (!busy) route();
    }, 300);
  };
  events.addEventListener("record", (ev) => {
    try {
      const d = JSON.parse(ev.data);
      const r = d.record || {};
      say(t("newRecord", { what: r.kind + " " + (r.title || short(r.id)) + (r.status ? " — " + statusWord(r.status) : "") }));
    } catch (_) { /* a malformed event only skips the message */ }
    refresh();
  });
  events.addEventListener("match", (ev) => {
    try { say(t("newMatch", { s: Number(JSON.parse(ev.data).score).toFixed(0) })); } catch (_) { /* as above */ }
  });
}

window.addEventListener("hashchange", () => { route().then(() => main().focus({ preventScroll: true })); });
window.addEventListener("DOMContentLoaded", () => { route(); live(); });
