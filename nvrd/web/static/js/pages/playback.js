// playback: not written yet.

import { h } from "../ui.js";

export const title = "playback";

export async function show(main) {
  main.append(h("h1", {}, title), h("p", {}, "This page is being written."));
}
