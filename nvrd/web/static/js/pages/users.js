// Users and groups (right "accounts"): the users with their group, state and last login;
// add one (the password policy checked as it is typed), change group, rights and state,
// reset a password, delete (confirmed); the groups with their rights (system rights as
// checkboxes, channel rights on every channel or per channel); and the person's own
// sessions and API tokens. Everything goes through /api/v1/users, /groups, /sessions and
// /tokens (nvrd/web/routes/accounts.py); the server checks every rule again.

import { api } from "../api.js";
import { busy, confirmAction, field, fill, formatTime, h, notify, section, table } from "../ui.js";
import { passwordField } from "./users/password.js";
import { describeRights, rightsEditor } from "./users/rights.js";

export const title = "Users & groups";

const STRENGTH = { invalid: "breaks the policy", weak: "weak", strong: "strong" };

function when(us) {
  return us ? formatTime(us / 1000) : "never";
}

export async function show(main, ctx) {
  const { signal } = ctx;
  const page = { users: [], groups: [], channels: [] };
  const usersBox = h("div", { class: "table-wrap" });
  const userPanel = h("div");
  const groupsBox = h("div", { class: "table-wrap" });
  const groupPanel = h("div");
  const sessionsBox = h("div", { class: "table-wrap" });
  const tokensBox = h("div");

  main.append(
    h("h1", {}, title),
    section("Users",
      h("div", { class: "buttons" },
        h("button", { type: "button", class: "primary", onclick: () => openAddUser() }, "Add user")),
      userPanel, usersBox),
    section("Groups",
      h("div", { class: "buttons" },
        h("button", { type: "button", onclick: () => openGroup(null) }, "Add group")),
      groupPanel, groupsBox),
    section("Your sessions", sessionsBox),
    section("Your API tokens", tokensBox));

  async function loadAccounts() {
    const [users, groups] = await Promise.all([
      api.get("/api/v1/users", { signal }), api.get("/api/v1/groups", { signal })]);
    page.users = users;
    page.groups = groups;
    renderUsers();
    renderGroups();
  }

  // --- users ---------------------------------------------------------------------------

  function renderUsers() {
    fill(usersBox, table([
      ["User", (u) => h("span", {}, u.name, u.description ? h("span", { class: "muted" }, ` — ${u.description}`) : null)],
      ["Group", (u) => u.group],
      ["Enabled", (u) => u.enabled ? h("span", { class: "ok" }, "yes") : h("span", { class: "bad" }, "disabled")],
      ["Last login", (u) => when(u.last_login_us)],
      ["Password", (u) => h("span", { class: u.password_strength === "strong" ? "ok" : "warn" },
        STRENGTH[u.password_strength] ?? u.password_strength)],
      ["", (u) => h("div", { class: "buttons row-actions" },
        h("button", { type: "button", "aria-label": `Edit ${u.name}`, onclick: () => openEditUser(u) }, "Edit"),
        h("button", { type: "button", "aria-label": `Reset the password of ${u.name}`,
                      onclick: () => openResetPassword(u) }, "Reset password"),
        h("button", { type: "button", class: "danger", "aria-label": `Delete ${u.name}`,
                      onclick: (event) => deleteUser(u, event.currentTarget) }, "Delete"))],
    ], page.users, { caption: `${page.users.length} user(s)` }));
  }

  function groupOptions() {
    return page.groups.map((g) => [g.name, g.name]);
  }

  function panel(box, heading, form) {
    fill(box, h("div", { class: "card" }, h("h3", {}, heading), form));
    form.querySelector("input, select")?.focus();
  }

  function openAddUser() {
    const name = field({ label: "User name", name: "name", attributes: { autocomplete: "off", maxLength: 32 },
                         hint: "Letters, digits and . _ @ -" });
    const password = passwordField({ label: "Password", name: "password", username: () => name.control.value, signal });
    const group = field({ label: "Group", name: "group", type: "select", value: "user", options: groupOptions() });
    const description = field({ label: "Description", name: "description" });
    const enabled = field({ label: "Enabled", name: "enabled", type: "checkbox", value: true });
    const submit = h("button", { type: "submit", class: "primary" }, "Create user");
    const form = h("form", { class: "user-form", noValidate: true },
      name, password, group, description, enabled,
      h("div", { class: "buttons" }, submit,
        h("button", { type: "button", onclick: () => fill(userPanel) }, "Cancel")));
    name.control.addEventListener("input", () => { if (password.control.value) password.recheck(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { error, value } = await busy(submit, () => api.post("/api/v1/users", {
        name: name.control.value.trim(), password: password.control.value,
        group: group.control.value, description: description.control.value,
        enabled: enabled.control.checked,
      }), { form });
      if (error) return;
      notify(`User ${value.name} created.`);
      fill(userPanel);
      await loadAccounts();
    });
    panel(userPanel, "Add a user", form);
  }

  function openEditUser(user) {
    const group = field({ label: "Group", name: "group", type: "select", value: user.group, options: groupOptions() });
    const description = field({ label: "Description", name: "description", value: user.description });
    const enabled = field({ label: "Enabled", name: "enabled", type: "checkbox", value: user.enabled,
                            hint: "A disabled user cannot log in; their sessions end." });
    const rights = rightsEditor(user.rights, page.channels, { legend: `Rights of ${user.name}` });
    const before = JSON.stringify(rights.value());
    const submit = h("button", { type: "submit", class: "primary" }, "Save");
    const form = h("form", { noValidate: true }, group, description, enabled,
      h("p", { class: "hint" }, "Rights can only be those of the user's group (or fewer). ",
        "A user whose rights change is logged out."),
      rights.element,
      h("div", { class: "buttons" }, submit,
        h("button", { type: "button", onclick: () => fill(userPanel) }, "Cancel")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {};
      if (group.control.value !== user.group) body.group = group.control.value;
      if (description.control.value !== user.description) body.description = description.control.value;
      if (enabled.control.checked !== user.enabled) body.enabled = enabled.control.checked;
      const chosen = rights.value();
      if (JSON.stringify(chosen) !== before) body.rights = chosen;
      const { error } = await busy(submit, () => api.patch(`/api/v1/users/${encodeURIComponent(user.name)}`, body), { form });
      if (error) return;
      notify(`User ${user.name} saved.`);
      fill(userPanel);
      await loadAccounts();
    });
    panel(userPanel, `Edit ${user.name}`, form);
  }

  function openResetPassword(user) {
    const own = user.name.toLowerCase() === ctx.session.user.toLowerCase();
    const old = own ? field({ label: "Your current password", name: "old_password", type: "password",
                              attributes: { autocomplete: "current-password" } }) : null;
    const password = passwordField({ label: "New password", name: "new_password", username: () => user.name, signal });
    const submit = h("button", { type: "submit", class: "primary" }, own ? "Change password" : "Reset password");
    const form = h("form", { noValidate: true },
      h("p", { class: "hint" }, own ? "Your other sessions end." : `${user.name} is logged out everywhere.`),
      old, password,
      h("div", { class: "buttons" }, submit,
        h("button", { type: "button", onclick: () => fill(userPanel) }, "Cancel")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { new_password: password.control.value };
      if (old) body.old_password = old.control.value;
      const { error } = await busy(submit, () => api.put(
        `/api/v1/users/${encodeURIComponent(user.name)}/password`, body), { form });
      if (error) return;
      notify(`The password of ${user.name} is set.`);
      fill(userPanel);
      await loadAccounts();
    });
    panel(userPanel, `Password of ${user.name}`, form);
  }

  async function deleteUser(user, button) {
    if (!await confirmAction(`Delete the user ${user.name}? Their sessions and API tokens end too.`,
                             { action: "Delete" })) return;
    const { error } = await busy(button, () => api.delete(`/api/v1/users/${encodeURIComponent(user.name)}`));
    if (error) return;
    notify(`User ${user.name} deleted.`);
    await loadAccounts();
  }

  // --- groups --------------------------------------------------------------------------

  function renderGroups() {
    fill(groupsBox, table([
      ["Group", (g) => h("span", {}, g.name, g.builtin ? h("span", { class: "badge muted" }, " built-in") : null)],
      ["Description", (g) => g.description],
      ["Rights", (g) => describeRights(g.rights)],
      ["Users", (g) => String(page.users.filter((u) => u.group === g.name).length)],
      ["", (g) => h("div", { class: "buttons row-actions" },
        g.name === "admin" ? h("span", { class: "muted" }, "every right (fixed)")
          : h("button", { type: "button", "aria-label": `Edit group ${g.name}`, onclick: () => openGroup(g) }, "Edit"),
        g.builtin ? null : h("button", { type: "button", class: "danger", "aria-label": `Delete group ${g.name}`,
                                         onclick: (event) => deleteGroup(g, event.currentTarget) }, "Delete"))],
    ], page.groups));
  }

  function openGroup(group) {
    const empty = { system: [], all_channels: [], channels: {} };
    const name = group ? null : field({ label: "Group name", name: "name", attributes: { autocomplete: "off" } });
    const description = field({ label: "Description", name: "description", value: group?.description ?? "" });
    const rights = rightsEditor(group?.rights ?? empty, page.channels, { legend: "Rights of the group" });
    const submit = h("button", { type: "submit", class: "primary" }, group ? "Save group" : "Create group");
    const form = h("form", { noValidate: true }, name, description,
      group ? h("p", { class: "hint" }, "Taking rights away also takes them from the group's users (they are logged out).") : null,
      rights.element,
      h("div", { class: "buttons" }, submit,
        h("button", { type: "button", onclick: () => fill(groupPanel) }, "Cancel")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { description: description.control.value, rights: rights.value() };
      const { error, value } = await busy(submit, () => group
        ? api.patch(`/api/v1/groups/${encodeURIComponent(group.name)}`, body)
        : api.post("/api/v1/groups", { name: name.control.value.trim(), ...body }), { form });
      if (error) return;
      const clipped = value?.clipped_users?.length ? ` Rights reduced for: ${value.clipped_users.join(", ")}.` : "";
      notify(`Group ${group?.name ?? value.name} saved.${clipped}`);
      fill(groupPanel);
      await loadAccounts();
    });
    panel(groupPanel, group ? `Edit group ${group.name}` : "Add a group", form);
  }

  async function deleteGroup(group, button) {
    if (!await confirmAction(`Delete the group ${group.name}? Only an empty group can be deleted.`,
                             { action: "Delete" })) return;
    const { error } = await busy(button, () => api.delete(`/api/v1/groups/${encodeURIComponent(group.name)}`));
    if (error) return;
    notify(`Group ${group.name} deleted.`);
    await loadAccounts();
  }

  // --- own sessions and tokens ---------------------------------------------------------

  async function loadSessions() {
    let sessions;
    try {
      sessions = await api.get("/api/v1/sessions", { signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      fill(sessionsBox, h("p", { class: "error" }, error.message));
      return;
    }
    const mine = sessions.filter((s) => s.user.toLowerCase() === ctx.session.user.toLowerCase());
    fill(sessionsBox, table([
      ["From", (s) => s.ip],
      ["Browser", (s) => h("span", { class: "muted" }, s.user_agent.slice(0, 80))],
      ["Logged in", (s) => when(s.created_us)],
      ["Last active", (s) => when(s.last_seen_us)],
      ["", (s) => s.current ? h("span", { class: "muted" }, "this session")
        : h("button", { type: "button", "aria-label": `End the session from ${s.ip}`, onclick: async (event) => {
          const { error } = await busy(event.currentTarget, () => api.delete(`/api/v1/sessions/${s.id}`));
          if (!error) await loadSessions();
        } }, "End")],
    ], mine, { empty: "no open sessions" }));
  }

  async function loadTokens() {
    const tokens = await api.get("/api/v1/tokens", { signal });
    const name = field({ label: "Token name", name: "name", hint: "What it is for, e.g. \"VMS\" or \"monitoring\"" });
    const days = field({ label: "Expires after (days)", name: "expires_in_days", type: "number",
                         attributes: { min: 1, max: 3650, inputmode: "numeric" }, hint: "Empty: never expires" });
    const issued = h("div", { role: "status" });
    const submit = h("button", { type: "submit" }, "Issue token");
    const form = h("form", { class: "inline-form", noValidate: true }, name, days, h("div", { class: "buttons" }, submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { name: name.control.value.trim() };
      if (days.control.value) body.expires_in_days = Number(days.control.value);
      const { error, value } = await busy(submit, () => api.post("/api/v1/tokens", body), { form });
      if (error) return;
      await loadTokens();
      fill(tokensBox.querySelector(".issued"), h("div", { class: "card secret" },
        h("p", {}, `Token ${value.token.name}: copy it now, it is not shown again.`),
        h("code", { class: "token-secret" }, value.secret),
        h("p", { class: "hint" }, "Send it as the header: Authorization: Bearer <token>")));
    });
    fill(tokensBox,
      h("div", { class: "table-wrap" }, table([
        ["Name", (t) => t.name],
        ["Issued", (t) => when(t.created_us)],
        ["Last used", (t) => when(t.last_used_us)],
        ["Expires", (t) => t.expires_us ? when(t.expires_us) : "never"],
        ["", (t) => h("button", { type: "button", class: "danger", "aria-label": `Revoke token ${t.name}`, onclick: async (event) => {
          if (!await confirmAction(`Revoke the token ${t.name}? Programs using it are refused from now on.`, { action: "Revoke" })) return;
          const { error } = await busy(event.currentTarget, () => api.delete(`/api/v1/tokens/${t.id}`));
          if (!error) await loadTokens();
        } }, "Revoke")],
      ], tokens, { empty: "no API tokens" })),
      h("div", { class: "issued" }), issued, form);
  }

  await Promise.all([loadCameras(), loadAccounts(), loadSessions(), loadTokens()]);

  async function loadCameras() {
    if (!ctx.session.can("camera")) return;
    try {
      const cameras = await api.get("/api/v1/cameras", { signal });
      page.channels = cameras.map((c) => c.channel).sort((a, b) => a - b);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      page.channels = [];  // per-channel rights then only for channels already granted
    }
  }
}
