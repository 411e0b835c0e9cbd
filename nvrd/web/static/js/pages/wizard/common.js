// Small helpers of the wizard's steps.

import { setFieldError } from "../../ui.js";

// Runs `action` every `ms` until `signal` fires (the step was left); a failed round is
// logged and the next one tried.
export function every(signal, ms, action) {
  const timer = setInterval(() => {
    if (!signal.aborted) action().catch((error) => {
      if (error?.name !== "AbortError") console.warn(error);
    });
  }, ms);
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
}

// Calls `action` `ms` after the last call of the returned function (typing).
export function debounce(ms, action) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => action(...args), ms);
  };
}

// Puts the server's messages for fields named like `path` ("ntp.servers": also
// "system.ntp.servers.1", as a configuration refusal names it) next to `control`
// (showErrors matches a whole name or its last part only).
export function errorsUnder(error, path, control) {
  const messages = [...(error.fields?.() ?? [])]
    .filter(([name]) => `.${name}.`.includes(`.${path}.`))
    .map(([name, message]) => message.replace(`${name}: `, ""));
  if (messages.length) setFieldError(control, messages.join(" "));
  return messages.length > 0;
}
