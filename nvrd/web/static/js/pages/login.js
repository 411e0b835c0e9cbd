// Log in. A refusal says why in words: a wrong name or password (the server never says
// which), or the lockout with the minutes left before the next try.

import { api } from "../api.js";
import { h, field, busy, showErrors, formatDuration } from "../ui.js";

export const title = "Log in";

export async function show(main, ctx) {
  const username = field({ label: "User name", name: "username", attributes: { autocomplete: "username", autocapitalize: "none" } });
  const password = field({ label: "Password", name: "password", type: "password", attributes: { autocomplete: "current-password" } });
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h("form", { class: "card narrow", noValidate: true }, username, password, h("div", { class: "buttons" }, submit));
  let countdown = null;
  ctx.signal.addEventListener("abort", () => clearInterval(countdown));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { error } = await busy(submit, () => api.post("/api/v1/session", {
      username: username.control.value.trim(), password: password.control.value,
    }), { form, report: false });
    if (!error) {
      window.dispatchEvent(new CustomEvent("nvrd:session"));
      return;
    }
    password.control.value = "";
    if (error.code === "locked") {
      lockedFor(error.retryAfter ?? 60);
    } else if (error.code === "login_failed") {
      showErrors(form, new Error("Wrong user name or password. After repeated failures the account is locked for a while."));
      password.control.focus();
    } else {
      showErrors(form, error);
    }
  });

  function lockedFor(seconds) {
    clearInterval(countdown);
    let left = seconds;
    submit.disabled = true;
    const tell = () => showErrors(form, new Error("Too many failed logins: this account (or this "
      + `address) is locked. You can try again in ${formatDuration(left)}.`));
    tell();
    countdown = setInterval(() => {
      left -= 1;
      if (left > 0) return tell();
      clearInterval(countdown);
      submit.disabled = false;
      showErrors(form, new Error("The lock has ended: you can try again."));
    }, 1000);
  }

  main.append(h("h1", {}, "Log in to the recorder"), form);
  username.control.focus();
}
