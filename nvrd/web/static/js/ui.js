// Small DOM helpers every page uses, so that labels, errors, progress and confirmations
// look and behave the same everywhere (and are accessible the same way everywhere).

import { ApiError } from "./api.js";

// h("button", {class: "primary", onclick}, "Save") -> <button class="primary">Save</button>
// Attributes: "class", "for", "data-*", "aria-*" and booleans (true/false) as attributes;
// "on..." functions as listeners; anything else is set as a property (value, checked...).
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "class" || key === "for" || key === "role" || key.includes("-") || key === "id"
               || key === "name" || key === "type" || key === "title" || key === "hidden" || key === "href"
               || key === "tabindex" || key === "colspan" || key === "scope" || key === "min" || key === "max"
               || key === "step" || key === "autocomplete" || key === "inputmode" || key === "pattern") {
      element.setAttribute(key, value === true ? "" : String(value));
    } else {
      element[key] = value;
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let counter = 0;
export function uid(prefix = "f") {
  counter += 1;
  return `${prefix}-${counter}`;
}

// A labelled form field: <div class="field"><label/>control<p class="hint"/><p class="error"/></div>.
// `control`: an element, or made from `type` ("text", "number", "password", "select",
// "checkbox", "textarea", ...) with `options` ([value, label] pairs) for selects.
// The error paragraph is tied to the control (aria-describedby, aria-invalid) and filled
// by showErrors() from the server's refusal, so the words appear next to their cause.
export function field({ label, name, type = "text", value, hint, options, control, required,
                        attributes = {} }) {
  const id = uid(name ?? "field");
  if (!control) {
    if (type === "select") {
      control = h("select", { id, name, ...attributes },
        (options ?? []).map(([v, text]) => h("option", { value: String(v), selected: String(v) === String(value) }, text)));
    } else if (type === "textarea") {
      control = h("textarea", { id, name, ...attributes }, value ?? "");
    } else if (type === "checkbox") {
      control = h("input", { id, name, type, checked: Boolean(value), ...attributes });
    } else {
      control = h("input", { id, name, type, value: value ?? "", required, ...attributes });
    }
  } else {
    control.id ||= id;
    if (name) control.name = name;
  }
  const hintElement = hint ? h("p", { class: "hint", id: control.id + "-hint" }, hint) : null;
  const error = h("p", { class: "error", id: control.id + "-error", role: "alert", hidden: true });
  control.setAttribute("aria-describedby", [hintElement?.id, error.id].filter(Boolean).join(" "));
  const wrapper = h("div", { class: type === "checkbox" ? "field check" : "field" },
    type === "checkbox" ? [control, h("label", { for: control.id }, label)]
                        : [h("label", { for: control.id }, label), control],
    hintElement, error);
  wrapper.control = control;
  return wrapper;
}

// The error of `control`'s field (null clears it).
export function setFieldError(control, message) {
  const error = document.getElementById(control.id + "-error");
  if (!error) return false;
  error.textContent = message ?? "";
  error.hidden = !message;
  if (message) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
  return true;
}

// Shows a refusal inside `form`: each field's message next to the control whose name
// matches the server's field (also its last part, "streams.main.url" -> "url"), the rest
// (and the overall sentence) in the form's error box. Focuses the first bad field.
export function showErrors(form, error) {
  clearErrors(form);
  const box = formBox(form);
  if (!(error instanceof ApiError)) {
    box.textContent = String(error?.message ?? error);
    box.hidden = false;
    return;
  }
  const unplaced = [];
  let first = null;
  for (const [name, message] of error.fields()) {
    const control = form.querySelector(`[name="${CSS.escape(name)}"]`)
      ?? form.querySelector(`[name="${CSS.escape(name.split(".").pop())}"]`);
    if (control && setFieldError(control, withoutFieldName(message, name))) first ??= control;
    else unplaced.push(message);
  }
  if (!first || unplaced.length) {
    box.textContent = first ? unplaced.join(" ") : error.message;
    box.hidden = false;
  }
  (first ?? box).focus?.();
}

// "body.port: must be at most 65535" under the port field: the field's name is said by
// its label already.
function withoutFieldName(message, name) {
  const text = String(message ?? "");
  const colon = text.indexOf(": ");
  const head = text.slice(0, colon).replace(/^(body|query|path)\./, "");
  return colon > 0 && (head === name || name.endsWith("." + head) || head.endsWith(name))
    ? text.slice(colon + 2) : text;
}

export function clearErrors(form) {
  for (const control of form.querySelectorAll("[aria-invalid]")) setFieldError(control, null);
  const box = form.querySelector(":scope > .form-error");
  if (box) box.hidden = true;
}

// A form's box for what concerns no single field (hidden while empty). showErrors()
// makes one at the top when the form has none; a form may place its own.
export function errorBox() {
  return h("p", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
}

function formBox(form) {
  let box = form.querySelector(":scope > .form-error");
  if (!box) {
    box = errorBox();
    form.prepend(box);
  }
  return box;
}

// Runs `action` with `button` disabled and marked busy. A refusal is shown in `form`
// (next to its fields), else as a notice at the top, unless `report` is false (the
// caller shows it itself); it is returned, never thrown: {value} or {error}.
export async function busy(button, action, { form = null, report = true } = {}) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    if (form) clearErrors(form);
    return { value: await action() };
  } catch (error) {
    if (error?.name !== "AbortError" && report) {
      if (form) showErrors(form, error);
      else notify(error.message ?? String(error), "error");
    }
    return { error };
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// A line of news at the top of the page, read out by screen readers.
export function notify(message, kind = "info") {
  const area = document.getElementById("notices");
  if (!area) return;
  const item = h("p", { class: "notice " + kind, role: kind === "error" ? "alert" : "status" }, message,
    h("button", { type: "button", class: "link", "aria-label": "dismiss", onclick: () => item.remove() }, "×"));
  area.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 6000);
}

// A progress bar with its words: update(fraction or null for "working", text).
export function progressBar(label) {
  const bar = h("progress", { max: 1, "aria-label": label });
  const words = h("span", { class: "progress-text" });
  const element = h("div", { class: "progress" }, bar, words);
  return {
    element,
    update(fraction, text = "") {
      if (fraction === null || fraction === undefined) bar.removeAttribute("value");
      else bar.value = Math.max(0, Math.min(1, fraction));
      words.textContent = text;
    },
  };
}

// Asks for confirmation in a modal <dialog>. With `word`, the person must type that word
// (destructive actions: formatting a disk, restoring defaults). Resolves true or false.
export function confirmAction(message, { word = null, action = "Confirm", danger = true } = {}) {
  return new Promise((resolve) => {
    const input = word ? h("input", { type: "text", autocomplete: "off", "aria-label": `type ${word} to confirm` }) : null;
    const ok = h("button", { type: "submit", class: danger ? "danger" : "primary", disabled: Boolean(word) }, action);
    const dialog = h("dialog", { class: "confirm", "aria-label": action },
      h("form", { method: "dialog" },
        h("p", {}, message),
        word ? h("p", {}, "Type ", h("code", {}, word), " to confirm:") : null,
        input,
        h("div", { class: "buttons" },
          h("button", { type: "button", value: "cancel", onclick: () => dialog.close("cancel") }, "Cancel"),
          ok)));
    input?.addEventListener("input", () => { ok.disabled = input.value.trim() !== word; });
    ok.addEventListener("click", (event) => {
      event.preventDefault();
      dialog.close("ok");
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "ok");
    });
    document.body.append(dialog);
    dialog.showModal();
    (input ?? ok).focus();
  });
}

// A table: columns are [heading, row => cell content] pairs.
// Wrapped to scroll sideways on a narrow screen instead of widening the page.
export function table(columns, rows, { caption, empty = "nothing yet" } = {}) {
  return h("div", { class: "table-wrap" }, h("table", {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map(([heading]) => h("th", { scope: "col" }, heading)))),
    h("tbody", {}, rows.length
      ? rows.map((row) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(row)))))
      : h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty)))));
}

// A section of a page with its heading.
export function section(title, ...children) {
  const id = uid("section");
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

// --- words for numbers -------------------------------------------------------------------

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let value = Number(bytes);
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)} ${units[unit]}`;
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(Number(seconds));
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (days) return `${days} d ${hours} h`;
  if (hours) return `${hours} h ${minutes} min`;
  if (minutes) return `${minutes} min`;
  return `${s % 60} s`;
}

export function formatTime(value, { date = true, seconds = true } = {}) {
  if (!value) return "";
  const moment = typeof value === "number" ? new Date(value) : new Date(value);
  return moment.toLocaleString(undefined, {
    year: date ? "numeric" : undefined, month: date ? "2-digit" : undefined, day: date ? "2-digit" : undefined,
    hour: "2-digit", minute: "2-digit", second: seconds ? "2-digit" : undefined, hour12: false,
  });
}

// Replaces the children of `element` (a page re-rendering a part of itself).
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}
