// Profiles: the page (/u/{username}), the quick card opened from a room, editing your own.

import { api, get, upload } from "./api.js";
import { h, replace, icon, avatar, formatCount, plural } from "./dom.js";
import { followControls, personRow, profileHref } from "./follow.js";
import { eventCard } from "./events.js";
import { safetyButtons } from "./moderation.js";
import { recordingSections } from "./recordings.js";
import { captionsConsent } from "./captions.js";

const BIO_MAX = 300;
const AVATAR_MAX = 5 * 1024 * 1024;
const PAGE = 30;
const profilePath = (username) => `/users/${encodeURIComponent(username)}/profile`;

export function profileView(ctx, username) {
  const body = h("div", { class: "profile-body" }, h("p", { class: "muted" }, "Loading…"));
  const el = h("section", { class: "page profile-page" }, body);
  let destroyed = false;

  async function load() {
    try {
      const p = await get(profilePath(username));
      if (!destroyed) render(p);
    } catch (err) {
      if (!destroyed) {
        replace(body, h("div", { class: "card notice" }, h("h1", null, "Profile not found"),
          h("p", { class: "muted" }, err.message), h("a", { href: "/", class: "btn btn-primary" }, "Back to the hallway")));
      }
    }
  }

  function render(p) {
    document.title = `${p.display_name} (@${p.username}) · Podium`;
    const counts = h("div", { class: "profile-counts" },
      countButton(p.followers_count, "follower", "followers", () => peopleDialog(ctx, p, "followers")),
      countButton(p.following_count, "following", "following", () => peopleDialog(ctx, p, "following")));
    const actions = p.is_me
      ? h("div", { class: "profile-actions" },
        h("button", { type: "button", class: "btn btn-secondary btn-sm", onclick: () => editProfile(ctx, p).then((changed) => { if (changed) load(); }) },
          icon("edit"), "Edit profile"))
      : h("div", { class: "profile-actions" }, followControls(ctx, p, (reply) => {
        p.followers_count = reply.followers_count;
        p.following = reply.following;
        p.notify = reply.notify;
        counts.firstChild.replaceWith(countButton(p.followers_count, "follower", "followers", () => peopleDialog(ctx, p, "followers")));
      }), ...safetyButtons(ctx, p));
    const card = h("div", { class: "card profile-card" },
      h("div", { class: "profile-top" },
        avatar(p, "xl"),
        h("div", { class: "profile-names" },
          h("h1", { class: "profile-name", tabindex: "-1" }, p.display_name),
          h("p", { class: "muted" }, `@${p.username}`, p.follows_you ? h("span", { class: "badge badge-muted" }, "Follows you") : null))),
      p.bio ? h("p", { class: "profile-bio" }, p.bio) : (p.is_me ? h("p", { class: "muted small" }, "No bio yet. Tell people what you like to talk about.") : null),
      p.invited_by ? h("p", { class: "small muted" }, "Invited by ",
        h("a", { href: profileHref(p.invited_by.username) }, p.invited_by.display_name)) : null,
      counts, actions);
    const hosting = h("section", { class: "profile-section", "aria-labelledby": "hosting-h" },
      h("h2", { id: "hosting-h" }, "Live now"),
      p.hosting && p.hosting.length
        ? h("ul", { class: "card rows" }, p.hosting.map((room) => h("li", { class: "row" },
          h("span", { class: "live-dot" }, "Live"),
          h("div", { class: "row-main" }, h("span", { class: "strong" }, room.title),
            h("span", { class: "small muted" }, `${kindLabel(room.kind)} · ${plural(room.stage.length + room.listener_count, "person", "people")}`)),
          h("a", { href: `/room/${encodeURIComponent(room.id)}`, class: "btn btn-primary btn-sm", "aria-label": `Join ${room.title}` }, "Join"))))
        : h("p", { class: "muted small" }, `${p.is_me ? "You're" : `${p.display_name} is`} not hosting a room right now.`));
    const events = h("section", { class: "profile-section", "aria-labelledby": "pevents-h" },
      h("h2", { id: "pevents-h" }, "Upcoming events"),
      p.upcoming_events && p.upcoming_events.length
        ? h("div", { class: "event-list" }, p.upcoming_events.map((e) => eventCard(ctx, e)))
        : h("p", { class: "muted small" }, "Nothing planned."));
    replace(body, card, hosting, events, ...recordingSections(ctx, p));
  }

  load();
  return {
    el,
    title: `@${username}`,
    focus: () => el.querySelector("h1")?.focus({ preventScroll: true }),
    destroy() { destroyed = true; },
  };
}

export function kindLabel(kind) {
  return { open: "Open room", social: "Social room", closed: "Closed room" }[kind] || "Room";
}

function countButton(n, one, many, onclick) {
  return h("button", { type: "button", class: "count-btn", onclick },
    h("strong", null, formatCount(n)), " ", n === 1 ? one : many);
}

/** Followers or following, paged ("Show more"). */
function peopleDialog(ctx, p, which) {
  const title = which === "followers" ? `People following ${p.display_name}` : `People ${p.display_name} follows`;
  return ctx.dialog(title, (close) => {
    const list = h("ul", { class: "people-list", "aria-label": title });
    const more = h("button", { type: "button", class: "btn btn-ghost btn-sm", hidden: true }, "Show more");
    const status = h("p", { class: "muted small" }, "Loading…");
    let offset = 0;
    async function page() {
      more.disabled = true;
      try {
        const data = await get(`/users/${encodeURIComponent(p.username)}/${which}?offset=${offset}&limit=${PAGE}`);
        offset += data.people.length;
        for (const person of data.people) list.append(personRow(person));
        status.textContent = data.total ? "" : (which === "followers" ? "No followers yet." : "Not following anyone yet.");
        status.hidden = !status.textContent;
        more.hidden = offset >= data.total || !data.people.length;
      } catch (err) {
        status.textContent = err.message;
        status.hidden = false;
      } finally {
        more.disabled = false;
      }
    }
    more.addEventListener("click", page);
    list.addEventListener("click", (e) => { if (e.target.closest("a")) close(); });
    page();
    return h("div", { class: "dialog-body" },
      h("div", { class: "dialog-head" }, h("h2", null, title), closeX(close)),
      list, status, more);
  });
}

function closeX(close) {
  return h("button", { type: "button", class: "btn btn-icon btn-ghost", "aria-label": "Close", onclick: () => close() }, icon("x"));
}

/** Edit your own profile; resolves true if anything changed. */
export function editProfile(ctx, p) {
  let changed = false;
  return ctx.dialog("Edit profile", (close) => {
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const avatarError = h("p", { class: "form-error", role: "alert", hidden: true });
    const preview = h("span", { class: "avatar-preview" }, avatar(p, "lg"));
    const file = h("input", { type: "file", id: "avatar-file", accept: "image/png,image/jpeg,image/webp", class: "offscreen", tabindex: "-1", "aria-label": "Picture file" });
    const remove = h("button", { type: "button", class: "btn btn-ghost btn-sm", hidden: !p.avatar_url }, "Remove picture");
    const showAvatarError = (msg) => { avatarError.textContent = msg || ""; avatarError.hidden = !msg; };
    file.addEventListener("change", async () => {
      const f = file.files && file.files[0];
      file.value = "";
      if (!f) return;
      showAvatarError("");
      if (f.size > AVATAR_MAX) return showAvatarError("Pictures are at most 5 MB.");
      try {
        const reply = await upload("PUT", "/profile/avatar", f);
        p.avatar_url = reply.avatar_url;
        replace(preview, avatar(p, "lg"));
        remove.hidden = false;
        changed = true;
        ctx.onProfileChanged?.();
      } catch (err) {
        showAvatarError(err.message);
      }
    });
    remove.addEventListener("click", async () => {
      try {
        await api("DELETE", "/profile/avatar");
        p.avatar_url = null;
        replace(preview, avatar(p, "lg"));
        remove.hidden = true;
        changed = true;
        ctx.onProfileChanged?.();
      } catch (err) {
        showAvatarError(err.message);
      }
    });
    const name = h("input", { id: "edit-name", name: "display_name", class: "input", required: true, maxlength: 50, value: p.display_name, autocomplete: "name" });
    const bio = h("textarea", { id: "edit-bio", name: "bio", class: "input", rows: 4, maxlength: BIO_MAX, "aria-describedby": "bio-count" });
    bio.value = p.bio || "";
    const counter = h("p", { id: "bio-count", class: "field-hint counter", "aria-live": "polite" });
    const count = () => {
      const n = Array.from(bio.value).length;
      counter.textContent = `${n} / ${BIO_MAX}`;
      counter.classList.toggle("is-near", n > BIO_MAX - 20);
    };
    bio.addEventListener("input", count);
    count();
    const form = h("form", { class: "dialog-body form", novalidate: true },
      h("div", { class: "dialog-head" }, h("h2", null, "Edit profile"), closeX(() => close(changed))),
      h("div", { class: "avatar-edit" }, preview,
        h("div", { class: "avatar-edit-actions" },
          h("button", { type: "button", class: "btn btn-secondary btn-sm", onclick: () => file.click() }, "Upload picture"), file, remove,
          h("p", { class: "field-hint" }, "PNG, JPEG or WebP, up to 5 MB. It's cropped to a square."))),
      avatarError,
      h("div", { class: "field" }, h("label", { for: "edit-name" }, "Display name"), name),
      h("div", { class: "field" }, h("label", { for: "edit-bio" }, "Bio"), bio, counter),
      captionsConsent(p),
      error,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn btn-ghost", onclick: () => close(changed) }, "Cancel"),
        h("button", { type: "submit", class: "btn btn-primary" }, "Save")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const submit = form.querySelector("button[type=submit]");
      const body = { display_name: name.value.trim(), bio: bio.value };
      const consent = form.querySelector("#edit-captions");
      if (consent && consent.checked !== p.captions) body.captions = consent.checked;
      if (!body.display_name) {
        error.textContent = "Choose a display name.";
        error.hidden = false;
        return;
      }
      submit.disabled = true;
      try {
        const reply = await api("PATCH", "/profile", body);
        Object.assign(p, reply);
        close(true);
        ctx.toast("Profile saved", "success");
        ctx.onProfileChanged?.();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        submit.disabled = false;
      }
    });
    setTimeout(() => name.focus(), 0);
    return form;
  }).then((value) => Boolean(value) || changed);
}

/** A quick look at someone (from a room): picture, bio, follow, link to the full profile. */
export function openProfileCard(ctx, member) {
  const username = member.username;
  return ctx.dialog(member.display_name || username, (close) => {
    const body = h("div", { class: "mini-profile" }, h("p", { class: "muted" }, "Loading…"));
    get(profilePath(username)).then((p) => {
      replace(body,
        h("div", { class: "profile-top" }, avatar(p, "lg"),
          h("div", { class: "profile-names" }, h("h2", null, p.display_name), h("p", { class: "muted small" }, `@${p.username}`))),
        p.bio ? h("p", { class: "profile-bio" }, p.bio) : null,
        h("p", { class: "small muted" }, plural(p.followers_count, "follower", "followers"), " · ",
          `${formatCount(p.following_count)} following`),
        p.is_me ? null : followControls(ctx, p),
        p.is_me ? null : h("div", { class: "profile-actions" }, ...safetyButtons(ctx, p, member.room_id)),
        h("a", { href: profileHref(p.username), class: "btn btn-ghost btn-sm", onclick: () => close() }, "View full profile"));
    }).catch((err) => replace(body, h("p", { class: "form-error" }, err.message)));
    return h("div", { class: "dialog-body" },
      h("div", { class: "dialog-head" }, h("span", { class: "small muted" }, "Profile"), closeX(close)), body);
  }, { className: "dialog-sm" });
}
