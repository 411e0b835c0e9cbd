// A password field that checks the recorder's password policy as it is typed
// (POST /api/v1/password-policy/check): every reason it would be refused appears in the
// field's error slot, its strength in the hint. The server stays the judge when the form
// is sent; this only says early what it would say.

import { api } from "../../api.js";
import { field, setFieldError } from "../../ui.js";

const CHECK_DELAY_MS = 250;
const STRENGTH_WORDS = { invalid: "not acceptable", weak: "weak", strong: "strong" };

// `username()`: the user name the password is for (the policy refuses one containing it).
export function passwordField({ label = "Password", name = "password", username = () => "", signal }) {
  const wrapper = field({ label, name, type: "password", attributes: { autocomplete: "new-password" },
                          hint: "8 to 32 characters mixing two kinds (letters, digits, symbols)" });
  const input = wrapper.control;
  const hint = wrapper.querySelector(".hint");
  let timer = null;
  let asked = 0;

  async function check() {
    const mine = ++asked;
    const password = input.value;
    if (!password) {
      setFieldError(input, null);
      hint.textContent = "8 to 32 characters mixing two kinds (letters, digits, symbols)";
      return;
    }
    let answer;
    try {
      answer = await api.post("/api/v1/password-policy/check", { username: username(), password }, { signal });
    } catch {
      return;  // the check is a courtesy: the server decides when the form is sent
    }
    if (mine !== asked) return;  // a later keystroke asked again
    setFieldError(input, answer.acceptable ? null
      : "The password " + answer.violations.map((v) => v.message).join("; ") + ".");
    hint.textContent = `Strength: ${STRENGTH_WORDS[answer.strength] ?? answer.strength}`;
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(check, CHECK_DELAY_MS);
  });
  signal?.addEventListener("abort", () => clearTimeout(timer));
  wrapper.recheck = check;
  return wrapper;
}
