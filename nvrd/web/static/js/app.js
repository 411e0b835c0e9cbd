// The page's frame: who is logged in, the menu (only what their rights allow), and the
// router that shows one page at a time. Pages are ES modules loaded when first opened
// (the first load carries only this frame, the API client and the page asked for).
//
// A page module exports `title` and `show(main, ctx)`; ctx gives it the session, the
// route's parameters, an AbortSignal that fires when the person leaves the page (every
// fetch, socket and timer of the page hangs on it) and helpers to navigate.

import { api, ApiError, setCsrf } from "./api.js";
import { h, fill, notify } from "./ui.js";

// Every page. `right`: the system right the API asks for what the page changes;
// `anyOf`: one of those rights; `channelRight`: the right on at least one channel.
// A page the session may not use is neither in the menu nor opened (the API would
// refuse its calls anyway; hiding is for the person, refusing is the server's).
export const ROUTES = [
  { path: "dashboard", title: "Dashboard", load: () => import("./pages/dashboard.js") },
  { path: "playback", title: "Playback", channelRight: "playback", load: () => import("./pages/playback.js") },
  { path: "settings/cameras", title: "Cameras", group: "Settings", right: "camera", load: () => import("./pages/cameras.js") },
  { path: "settings/recording", title: "Recording", group: "Settings", right: "camera", load: () => import("./pages/recording.js") },
  { path: "settings/storage", title: "Storage", group: "Settings", right: "storage", load: () => import("./pages/storage.js") },
  { path: "settings/events", title: "Events", group: "Settings", right: "events", load: () => import("./pages/events.js") },
  { path: "settings/ptz", title: "PTZ", group: "Settings", anyOf: ["ptz"], channelRight: "ptz", load: () => import("./pages/ptz.js") },
  { path: "settings/poe", title: "PoE", group: "Settings", right: "camera", load: () => import("./pages/poe.js") },
  { path: "settings/users", title: "Users", group: "Settings", right: "accounts", load: () => import("./pages/users.js") },
  { path: "settings/security", title: "Security", group: "Settings", right: "security", load: () => import("./pages/security.js") },
  { path: "settings/system", title: "System", group: "Settings", anyOf: ["system", "log_view", "import_export", "restore_defaults", "reboot", "network"], load: () => import("./pages/system.js") },
  { path: "wizard", title: "Setup wizard", group: "Settings", right: "camera", load: () => import("./pages/wizard.js") },
];
const LOGIN = { path: "login", title: "Log in", load: () => import("./pages/login.js") };
const FIRST_BOOT = { path: "wizard", title: "Set up the recorder", load: () => import("./pages/wizard.js") };
const HOME = "dashboard";

// The logged-in person and what they may do (GET /api/v1/session).
export class Session {
  constructor(answer) {
    Object.assign(this, answer);
    setCsrf(answer.csrf_token);
  }

  can(right) {
    return this.rights.system.includes(right);
  }

  canChannel(right, channel = null) {
    if (this.rights.all_channels.includes(right)) return true;
    const channels = this.rights.channels ?? {};
    if (channel !== null) return (channels[String(channel)] ?? []).includes(right);
    return Object.values(channels).some((rights) => rights.includes(right));
  }

  allows(route) {
    if (route.right && !this.can(route.right)) return false;
    const byRight = route.anyOf ? route.anyOf.some((right) => this.can(right)) : null;
    const byChannel = route.channelRight ? this.canChannel(route.channelRight) : null;
    if (byRight === null && byChannel === null) return true;
    return Boolean(byRight) || Boolean(byChannel);
  }
}

const state = { session: null, uninitialized: false, leave: null, generation: 0 };

function parseHash() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = hash.split("?");
  return { path: path || HOME, params: new URLSearchParams(search) };
}

export function navigate(path, params = null) {
  const search = params ? "?" + new URLSearchParams(params).toString() : "";
  const target = `#/${path}${search}`;
  if (location.hash === target) route();
  else location.hash = target;
}

// Replaces the route's parameters without leaving the page (a picked day, a zoom).
export function setParams(params) {
  const { path } = parseHash();
  const search = new URLSearchParams(params).toString();
  history.replaceState(null, "", `#/${path}${search ? "?" + search : ""}`);
}

async function loadSession() {
  try {
    state.session = new Session(await api.get("/api/v1/session"));
    state.uninitialized = false;
  } catch (error) {
    state.session = null;
    setCsrf(null);
    if (!(error instanceof ApiError) || ![401, 403].includes(error.status)) throw error;
    state.uninitialized = error.code === "uninitialized";
  }
}

function renderNav() {
  const nav = document.getElementById("nav");
  const session = state.session;
  if (!session) {
    fill(nav);
    document.getElementById("who").textContent = "";
    return;
  }
  const current = parseHash().path;
  const link = (route) => h("li", {}, h("a", {
    href: `#/${route.path}`, "aria-current": route.path === current ? "page" : null,
  }, route.title));
  const allowed = ROUTES.filter((route) => session.allows(route));
  const main = allowed.filter((route) => !route.group);
  const settings = allowed.filter((route) => route.group === "Settings");
  fill(nav,
    h("ul", {}, main.map(link)),
    settings.length ? h("details", { class: "menu" },  // closed again after each choice
      h("summary", {}, "Settings"), h("ul", {}, settings.map(link))) : null);
  fill(document.getElementById("who"),
    h("span", {}, `${session.user} (${session.group})`), " ",
    h("button", { type: "button", class: "link", onclick: logOut }, "Log out"));
}

async function logOut() {
  try {
    await api.delete("/api/v1/session");
  } catch (error) {
    notify(error.message, "error");
  }
  state.session = null;
  setCsrf(null);
  navigate("login");
}

function pageFor(path) {
  if (state.uninitialized) return FIRST_BOOT;
  if (!state.session) return LOGIN;
  if (path === "login") return null;  // already logged in: home
  return ROUTES.find((route) => route.path === path) ?? { path, missing: true, title: "Not found" };
}

async function route() {
  const generation = ++state.generation;
  state.leave?.abort();
  const leave = new AbortController();
  state.leave = leave;
  const { path, params } = parseHash();
  const page = pageFor(path);
  if (page === null) return navigate(HOME);
  const main = document.getElementById("main");
  renderNav();
  document.body.dataset.page = page.path;
  document.body.removeAttribute("data-ready");
  document.title = `${page.title} · nvrd`;
  if (page.missing) {
    fill(main, h("h1", {}, "Not found"), h("p", {}, `There is no page “${path}”. `, h("a", { href: "#/" }, "Go to the dashboard")));
    return ready(generation);
  }
  if (state.session && !state.session.allows(page)) {
    fill(main, h("h1", {}, page.title), h("p", { class: "form-error", role: "alert" },
      `Your account (${state.session.user}, group ${state.session.group}) has no right to this page. Ask an administrator.`));
    return ready(generation);
  }
  fill(main, h("p", { class: "loading", role: "status" }, "Loading…"));
  try {
    const module = await page.load();
    if (generation !== state.generation) return;
    const content = h("div", { class: "page" });
    const ctx = {
      session: state.session, params, signal: leave.signal, navigate, setParams,
      async sessionChanged() {
        await loadSession();
        ctx.session = state.session;
        renderNav();
      },
      every(ms, action) {
        const timer = setInterval(() => action().catch?.((e) => console.warn(e)), ms);
        leave.signal.addEventListener("abort", () => clearInterval(timer));
      },
    };
    fill(main, content);
    await module.show(content, ctx);
    if (generation !== state.generation) return;
    main.querySelector("h1")?.setAttribute("tabindex", "-1");
    ready(generation);
  } catch (error) {
    if (error?.name === "AbortError" || generation !== state.generation) return;
    console.error(error);
    fill(main, h("h1", {}, page.title), h("p", { class: "form-error", role: "alert" },
      error instanceof ApiError ? error.message : `This page failed: ${error.message ?? error}`));
    ready(generation);
  }
}

// The page is usable: its first data is shown (the browser tests and the page-load
// benchmark wait for this mark).
function ready(generation) {
  if (generation !== state.generation) return;
  document.body.dataset.ready = "1";
  performance.mark("nvrd-ready");
}

window.addEventListener("hashchange", route);
// The "skip to the content" link focuses the content instead of changing the hash (which
// is the router's).
document.querySelector(".skip")?.addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main").focus();
});
window.addEventListener("nvrd:logged-out", async () => {
  if (!state.session) return;
  state.session = null;
  setCsrf(null);
  notify("Your session has ended: please log in again.", "error");
  navigate("login", { next: parseHash().path });
});
window.addEventListener("nvrd:session", async () => {
  await loadSession();
  const next = parseHash().params.get("next");
  navigate(state.session && next && next !== "login" ? next : HOME);
});

async function start() {
  try {
    await loadSession();
  } catch (error) {
    fill(document.getElementById("main"), h("p", { class: "form-error", role: "alert" }, error.message));
    return;
  }
  await route();
}

start();
