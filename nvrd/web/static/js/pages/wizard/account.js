// Step 1 (first boot only): the administrator. The password policy is explained as the
// password is typed (the server's own check, so the page and the recorder never
// disagree); Next creates the administrator and logs in (POST /api/v1/init).

import { api } from "../../api.js";
import { h, field, fill, showErrors, clearErrors, setFieldError } from "../../ui.js";
import { debounce } from "./common.js";

export const title = "Administrator";

const STRENGTH = {
  invalid: [0, "not accepted"],
  weak: [1, "weak: accepted, but a longer password with more kinds of characters is safer"],
  strong: [2, "strong"],
};
const POLICY = "8 to 32 characters, at least two kinds of: digits, lower case, upper case, "
  + "symbols; no spaces and none of ' \" ; : &; not the user name; no runs like 123 or abc, "
  + "no repeats like 111.";

export async function render(panel, ctx, signal, wizard) {
  const username = field({ label: "User name", name: "username", value: "admin",
    attributes: { autocomplete: "username", autocapitalize: "none" } });
  const password = field({ label: "Password", name: "password", type: "password", hint: POLICY,
    attributes: { autocomplete: "new-password" } });
  const repeat = field({ label: "Repeat the password", name: "repeat", type: "password",
    attributes: { autocomplete: "new-password" } });
  const meter = h("meter", { min: 0, max: 2, value: 0, low: 1, high: 2, optimum: 2, "aria-label": "Password strength" });
  const words = h("span", { class: "strength-words" }, "type a password");
  const violations = h("ul", { class: "policy-violations" });
  const policy = h("div", { class: "policy", "aria-live": "polite" },
    h("p", {}, "Strength: ", meter, " ", words), violations);
  const form = h("form", { class: "card narrow", noValidate: true },
    h("p", {}, "The recorder has no accounts yet. Choose the administrator's name and password: "
      + "there is no default password, and this account can change every setting."),
    username, password, policy, repeat);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    wizard.next();
  });
  panel.append(form);

  let asked = 0;
  const check = debounce(250, async () => {
    const number = ++asked;
    const value = password.control.value;
    if (!value) {
      meter.value = 0;
      words.textContent = "type a password";
      fill(violations);
      return;
    }
    let answer;
    try {
      answer = await api.post("/api/v1/password-policy/check",
        { username: username.control.value.trim(), password: value }, { signal });
    } catch (error) {
      if (error?.name !== "AbortError") words.textContent = `could not be checked: ${error.message}`;
      return;
    }
    if (number !== asked) return; // a newer check is on its way
    const [level, text] = STRENGTH[answer.strength] ?? [0, answer.strength];
    meter.value = level;
    words.textContent = text;
    words.className = "strength-words " + answer.strength;
    fill(violations, answer.violations.map((violation) => h("li", { "data-code": violation.code }, violation.message)));
  });
  const compare = () => {
    const differ = repeat.control.value && repeat.control.value !== password.control.value;
    setFieldError(repeat.control, differ ? "The two passwords differ." : null);
  };
  password.control.addEventListener("input", () => { check(); if (repeat.control.value) compare(); });
  username.control.addEventListener("input", check);
  repeat.control.addEventListener("input", compare);
  password.control.focus();

  return {
    async save() {
      clearErrors(form);
      if (repeat.control.value !== password.control.value) {
        setFieldError(repeat.control, "The two passwords differ: type the same password twice.");
        repeat.control.focus();
        return false;
      }
      try {
        await api.post("/api/v1/init", { username: username.control.value.trim(), password: password.control.value });
      } catch (error) {
        showErrors(form, error);
        return false;
      }
      await ctx.sessionChanged();
      return true;
    },
  };
}
