// Step 3: the recorder's network as the operating system has it (read-only here: changes,
// with confirm and automatic revert, are on the System page).

import { api } from "../../api.js";
import { h, table } from "../../ui.js";

export const title = "Network";

function addresses(iface, family) {
  return iface.addresses.filter((a) => a.family === family)
    .map((a) => (a.netmask && family !== "mac" ? `${a.address} / ${a.netmask}` : a.address));
}

export async function render(panel) {
  const data = await api.get("/api/v1/system/network");
  const shown = data.interfaces.filter((iface) => iface.name !== "lo");
  panel.append(
    h("p", {}, "Host name: ", h("strong", {}, data.hostname)),
    h("div", { class: "table-wrap" }, table([
      ["Interface", (i) => i.name],
      ["Link", (i) => h("span", { class: i.up ? "ok" : "muted" }, i.up ? "up" : "down")],
      ["Speed", (i) => (i.speed_mbps ? `${i.speed_mbps} Mbit/s` : "")],
      ["IPv4", (i) => addresses(i, "ipv4").join(", ")],
      ["IPv6", (i) => h("span", { class: "wrap" }, addresses(i, "ipv6").join(", "))],
      ["MAC", (i) => addresses(i, "mac").join(", ")],
    ], shown, { caption: "Network interfaces", empty: "no network interface" })),
    h("p", { class: "hint" }, "Shown as the recorder has it now. To change addresses, DNS or the gateway, use ",
      h("a", { href: "#/settings/system" }, "Settings → System"),
      " (a change there is confirmed from the new address, or undone by itself)."));
  return { save: async () => true };
}
