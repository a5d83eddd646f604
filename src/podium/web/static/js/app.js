// Podium in the browser: boot, routing, the app shell, sign-in/up and invites.

import { api, get, post, ApiError } from "./api.js";
import { h, append, replace, clear, icon, avatar, copyText, timeAgo } from "./dom.js";
import { Realtime } from "./realtime.js";
import { Media } from "./media.js";
import { hallwayView } from "./hallway.js";
import { roomView } from "./room.js";
import { profileView } from "./profile.js";
import { profileHref } from "./follow.js";
import { eventsView } from "./events.js";
import { notificationsView, bellButton, startNotifications } from "./notifications.js";
import { searchBox } from "./search.js";
import { adminView } from "./admin.js";
import { replayView } from "./replay.js";
import { clipView } from "./clip.js";

const ctx = {
  me: null,
  rt: new Realtime(),
  media: new Media(),
  view: null,
  navigate,
  toast,
  dialog,
  roomState: null, // set by the room view, read by the debug hook
  onProfileChanged: () => refreshMe(),
};

// ----------------------------------------------------------------------------- shell

const main = document.getElementById("main");
const appRoot = document.getElementById("app");
const header = h("header", { class: "topbar" });
const banner = h("div", { class: "conn-banner", role: "status", "aria-live": "polite", hidden: true });
const toasts = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
appRoot.prepend(header, banner);
document.body.append(toasts);

function renderHeader() {
  clear(header);
  const brand = h("a", { href: "/", class: "brand", "aria-label": "Podium, the hallway" },
    h("span", { class: "brand-mark", "aria-hidden": "true" }, icon("mic")), h("span", { class: "brand-name" }, "Podium"));
  if (!ctx.me) {
    append(header, brand);
    return;
  }
  const here = location.pathname;
  const nav = h("nav", { class: "nav", "aria-label": "Main" },
    h("a", { href: "/", class: "nav-link", "aria-current": here === "/" ? "page" : null }, "Hallway"),
    h("a", { href: "/events", class: "nav-link", "aria-current": here.startsWith("/events") ? "page" : null }, "Events"),
    h("a", { href: "/invites", class: "nav-link", "aria-current": here === "/invites" ? "page" : null }, "Invites"),
    ctx.me.is_admin ? h("a", { href: "/admin", class: "nav-link", "aria-current": here === "/admin" ? "page" : null }, "Review") : null);
  const mine = profileHref(ctx.me.username);
  const who = h("div", { class: "who" },
    bellButton(ctx),
    h("a", { href: mine, class: "who-link", "aria-label": `Your profile, ${ctx.me.display_name}`, "aria-current": here === mine ? "page" : null },
      avatar(ctx.me, "sm"), h("span", { class: "who-name" }, ctx.me.display_name)),
    h("button", { type: "button", class: "btn btn-ghost btn-sm signout", onclick: signOut, "aria-label": "Sign out" },
      icon("leave"), h("span", { class: "signout-text" }, "Sign out")));
  append(header, brand, nav, searchBox(ctx), who);
}

function showBanner(status) {
  if (status === "reconnecting" && ctx.me) {
    replace(banner, icon("wifiOff"), h("span", null, "Connection lost — reconnecting…"));
    banner.hidden = false;
    banner.className = "conn-banner is-reconnecting";
  } else {
    banner.hidden = true;
    clear(banner);
  }
}

ctx.rt.addEventListener("status", (e) => showBanner(e.detail));
ctx.rt.addEventListener("signedout", async () => {
  // The session this socket opened with ended. Signing in again in another tab replaces it
  // with a new one this tab shares (the cookie): then carry on; otherwise sign in.
  try {
    const me = await get("/auth/me");
    if (ctx.me && me.id === ctx.me.id) ctx.rt.start();
    else location.assign("/"); // someone else signed in here: start afresh as them
    return;
  } catch { /* signed out indeed */ }
  ctx.me = null;
  navigate("/signin", { replace: true });
});
window.addEventListener("online", () => ctx.rt.retryNow());

// ----------------------------------------------------------------------------- toasts & dialogs

function toast(message, kind = "info") {
  const el = h("div", { class: `toast toast-${kind}` }, message);
  toasts.append(el);
  setTimeout(() => el.classList.add("is-leaving"), 3600);
  setTimeout(() => el.remove(), 4000);
}

/** A modal <dialog>: build(close) returns its content; resolves with what close() is given. */
function dialog(label, build, { className = "" } = {}) {
  return new Promise((resolve) => {
    const el = h("dialog", { class: `dialog ${className}`, "aria-label": label });
    let result;
    const close = (value) => { result = value; el.close(); };
    el.addEventListener("close", () => { el.remove(); resolve(result); });
    el.addEventListener("click", (e) => { if (e.target === el) close(undefined); });
    append(el, build(close));
    document.body.append(el);
    el.showModal();
  });
}

// ----------------------------------------------------------------------------- routing

function navigate(path, { replace: swap = false } = {}) {
  if (swap) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download") || e.defaultPrevented) return;
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/") || url.pathname.startsWith("/static/")) return;
  e.preventDefault();
  if (url.pathname + url.search !== location.pathname + location.search) navigate(url.pathname + url.search);
});
window.addEventListener("popstate", route);

async function route() {
  const path = location.pathname;
  if (ctx.view && ctx.view.destroy) await ctx.view.destroy();
  ctx.view = null;
  renderHeader();
  clear(main);
  main.className = "main";
  let m;
  if ((m = path.match(/^\/invite\/([^/]+)$/))) return mount(signUpView(decodeURIComponent(m[1])));
  if (path === "/signin") {
    if (ctx.me) return navigate(nextPath() || "/", { replace: true });
    return mount(signInView());
  }
  if (!ctx.me) {
    const next = path === "/" ? "" : `?next=${encodeURIComponent(path)}`;
    return navigate(`/signin${next}`, { replace: true });
  }
  ctx.rt.start();
  startNotifications(ctx);
  if ((m = path.match(/^\/room\/([A-Za-z0-9_-]{1,32})$/))) return mount(roomView(ctx, m[1]));
  if (path === "/invites") return mount(invitesView());
  if ((m = path.match(/^\/u\/([a-z0-9_]{1,30})$/))) return mount(profileView(ctx, m[1]));
  if (path === "/notifications") return mount(notificationsView(ctx));
  if (path === "/admin") return mount(adminView(ctx));
  if ((m = path.match(/^\/replays\/([A-Za-z0-9_-]{1,64})$/))) return mount(replayView(ctx, m[1]));
  if ((m = path.match(/^\/clips\/([A-Za-z0-9_-]{1,64})$/))) return mount(clipView(ctx, m[1]));
  if (path === "/events") return mount(eventsView(ctx));
  if ((m = path.match(/^\/events\/(\d{1,18})$/))) return mount(eventsView(ctx, m[1]));
  if (path !== "/") history.replaceState(null, "", "/");
  return mount(hallwayView(ctx));
}

function mount(view) {
  ctx.view = view;
  replace(main, view.el);
  document.title = view.title ? `${view.title} · Podium` : "Podium";
  if (view.focus) view.focus();
}

function nextPath() {
  const next = new URLSearchParams(location.search).get("next");
  return next && next.startsWith("/") && !next.startsWith("//") ? next : null;
}

async function signOut() {
  if (ctx.view && ctx.view.destroy) await ctx.view.destroy();
  ctx.view = null;
  try { await post("/auth/signout"); } catch { /* signed out locally either way */ }
  ctx.rt.stop();
  await ctx.media.close();
  ctx.me = null;
  navigate("/signin", { replace: true });
}

// ----------------------------------------------------------------------------- forms

function field(label, attrs, hint) {
  const id = `f-${attrs.name}`;
  const hintId = hint ? `${id}-hint` : null;
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, class: "input", "aria-describedby": hintId, ...attrs }),
    hint ? h("p", { class: "field-hint", id: hintId }, hint) : null);
}

function formError() {
  return h("p", { class: "form-error", role: "alert", hidden: true });
}

function setError(el, message) {
  el.textContent = message || "";
  el.hidden = !message;
}

async function submitting(form, work) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try { await work(); } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

function authLayout(...children) {
  main.classList.add("main-auth");
  return h("section", { class: "auth" },
    h("div", { class: "auth-hero", "aria-hidden": "true" },
      h("span", { class: "brand-mark brand-mark-lg" }, icon("mic"))),
    ...children);
}

function signInView() {
  const error = formError();
  const form = h("form", { class: "card form", novalidate: true },
    h("h1", null, "Welcome back"),
    h("p", { class: "muted" }, "Sign in to hop into a room."),
    field("Username", { name: "username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" }),
    field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true }),
    error,
    h("button", { type: "submit", class: "btn btn-primary btn-block" }, "Sign in"),
    h("p", { class: "muted small center" }, "New here? Podium is invite-only: open the invite link a member sent you."));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const username = String(data.get("username") || "").trim().toLowerCase();
    const password = String(data.get("password") || "");
    if (!username || !password) return setError(error, "Enter your username and password.");
    submitting(form, async () => {
      try {
        ctx.me = await post("/auth/signin", { username, password });
        refreshMe();
        navigate(nextPath() || "/", { replace: true });
      } catch (err) {
        setError(error, err.message);
      }
    });
  });
  return { el: authLayout(form), title: "Sign in", focus: () => form.querySelector("input").focus() };
}

function signUpView(code) {
  const intro = h("p", { class: "muted" }, "Checking your invite…");
  const error = formError();
  const form = h("form", { class: "card form", novalidate: true },
    h("h1", null, "Join Podium"),
    intro,
    field("Display name", { name: "display_name", autocomplete: "name", required: true, maxlength: 50 },
      "How people see you in rooms."),
    field("Username", { name: "username", autocomplete: "username", required: true, maxlength: 30,
      autocapitalize: "none", spellcheck: "false", pattern: "[a-z0-9_]{2,30}" },
    "2–30 characters: lowercase letters, digits and _."),
    field("Password", { name: "password", type: "password", autocomplete: "new-password", required: true, minlength: 8 },
      "At least 8 characters."),
    error,
    h("button", { type: "submit", class: "btn btn-primary btn-block" }, "Create account"),
    h("p", { class: "muted small center" }, "Already a member? ", h("a", { href: "/signin" }, "Sign in")));
  const usernameInput = form.querySelector("[name=username]");
  usernameInput.addEventListener("input", () => {
    const clean = usernameInput.value.toLowerCase().replace(/\s+/g, "_");
    if (clean !== usernameInput.value) usernameInput.value = clean;
  });
  const wrap = authLayout(form);
  const formControls = () => form.querySelectorAll("input, button");
  get(`/invites/${encodeURIComponent(code)}`).then((check) => {
    replace(intro, h("strong", null, check.invited_by.display_name), " (@", check.invited_by.username,
      ") invited you. Pick a name and you're in.");
    if (ctx.me) {
      replace(intro, `You're signed in as ${ctx.me.display_name}. Sign out first to use this invite for someone else.`);
      formControls().forEach((c) => { c.disabled = true; });
    }
  }).catch((err) => {
    replace(intro, "");
    setError(error, err instanceof ApiError ? err.message : "This invite can't be checked right now.");
    if (err.status === 404 || err.status === 410) formControls().forEach((c) => { c.disabled = true; });
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const body = {
      invite: code,
      display_name: String(data.get("display_name") || "").trim(),
      username: String(data.get("username") || "").trim(),
      password: String(data.get("password") || ""),
    };
    if (!body.display_name) return setError(error, "Choose a display name.");
    if (!/^[a-z0-9_]{2,30}$/.test(body.username)) {
      return setError(error, "Usernames are 2 to 30 lowercase letters, digits or _.");
    }
    if (body.password.length < 8) return setError(error, "Passwords are at least 8 characters.");
    submitting(form, async () => {
      try {
        ctx.me = await post("/auth/signup", body);
        refreshMe();
        toast(`Welcome to Podium, ${ctx.me.display_name}!`, "success");
        navigate("/", { replace: true });
      } catch (err) {
        setError(error, err.message);
      }
    });
  });
  return { el: wrap, title: "Join", focus: () => form.querySelector("input").focus() };
}

// ----------------------------------------------------------------------------- invites

function invitesView() {
  const fresh = h("div", { class: "fresh-invites" });
  const list = h("div", { class: "invite-list" }, h("p", { class: "muted" }, "Loading…"));
  const error = formError();
  const createButton = h("button", { type: "button", class: "btn btn-primary" }, icon("plus"), "Create invite link");
  createButton.addEventListener("click", async () => {
    createButton.disabled = true;
    setError(error, "");
    try {
      const invite = await post("/invites");
      const url = `${location.origin}/invite/${encodeURIComponent(invite.code)}`;
      fresh.prepend(freshInvite(url));
      await load();
    } catch (err) {
      setError(error, err.message);
    } finally {
      createButton.disabled = false;
    }
  });

  function freshInvite(url) {
    const input = h("input", { class: "input mono", readonly: true, value: url, "aria-label": "New invite link" });
    input.addEventListener("focus", () => input.select());
    const copy = h("button", { type: "button", class: "btn btn-secondary" }, icon("copy"), "Copy");
    copy.addEventListener("click", async () => {
      if (await copyText(url)) {
        toast("Invite link copied", "success");
        copy.lastChild.textContent = "Copied";
      } else {
        input.select();
        toast("Select the link and copy it");
      }
    });
    return h("div", { class: "card fresh-invite" },
      h("p", { class: "small muted" }, "New invite — this link is shown only once, so copy it now."),
      h("div", { class: "copy-row" }, input, copy));
  }

  async function load() {
    try {
      const invites = await get("/invites");
      if (!invites.length) {
        replace(list, h("div", { class: "empty" }, h("p", null, "You haven't created any invites yet.")));
        return;
      }
      const now = Date.now() / 1000;
      replace(list, h("ul", { class: "card rows", "aria-label": "Your invites" }, invites.map((inv) => {
        let status;
        if (inv.used_by) {
          status = h("span", { class: "badge badge-used" }, `Used by @${inv.used_by}`);
        } else if (inv.expires_at <= now) {
          status = h("span", { class: "badge badge-muted" }, "Expired");
        } else {
          status = h("span", { class: "badge badge-open" }, "Not used yet");
        }
        const detail = inv.used_by && inv.used_at
          ? `Joined ${timeAgo(inv.used_at)}`
          : inv.expires_at <= now ? `Expired ${timeAgo(inv.expires_at)}` : `Expires ${timeAgo(inv.expires_at)}`;
        return h("li", { class: "row" },
          h("span", { class: "row-icon", "aria-hidden": "true" }, icon("ticket")),
          h("div", { class: "row-main" },
            h("span", { class: "mono" }, `Invite …${inv.hint}`),
            h("span", { class: "small muted" }, `Created ${timeAgo(inv.created_at)} · ${detail}`)),
          status);
      })));
    } catch (err) {
      replace(list, h("p", { class: "form-error" }, err.message));
    }
  }
  load();

  const el = h("section", { class: "page" },
    h("div", { class: "page-head" },
      h("div", null, h("h1", null, "Invites"),
        h("p", { class: "muted" }, "Podium grows by invitation. Each link lets one person sign up.")),
      createButton),
    error, fresh, list);
  return { el, title: "Invites" };
}

// ----------------------------------------------------------------------------- debug hook

window.podiumDebug = {
  dominantFrequency: () => ctx.media.dominantFrequency(),
  level: () => ctx.media.level(),
  dropConnection: () => ctx.rt.drop(),
  state: () => ({
    connection: ctx.rt.status,
    media: ctx.media.state,
    autoplayBlocked: ctx.media.blocked,
    micLive: Boolean(ctx.media.mic && ctx.media.mic.readyState === "live" && ctx.media.mic.enabled),
    room: ctx.roomState ? ctx.roomState.room_id : null,
    role: ctx.roomState && ctx.roomState.me ? ctx.roomState.me.role : null,
    muted: ctx.roomState && ctx.roomState.me ? ctx.roomState.me.muted : null,
  }),
};

// ----------------------------------------------------------------------------- boot

/** Your own profile (for the header's picture); after sign-in and after editing it. */
async function refreshMe() {
  if (!ctx.me) return;
  try {
    const p = await get(`/users/${encodeURIComponent(ctx.me.username)}/profile`);
    if (!ctx.me || ctx.me.id !== p.id) return;
    const changed = ctx.me.avatar_url !== p.avatar_url || ctx.me.display_name !== p.display_name;
    Object.assign(ctx.me, { avatar_url: p.avatar_url, display_name: p.display_name });
    if (changed) renderHeader();
  } catch { /* initials stay */ }
}

async function boot() {
  try {
    ctx.me = await get("/auth/me");
    refreshMe();
  } catch (err) {
    ctx.me = null;
    if (!(err instanceof ApiError) || err.status !== 401) {
      // The server is unreachable: show sign-in; it will report the problem on submit.
    }
  }
  route();
}

boot();
export { api };
