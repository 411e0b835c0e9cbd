// Live status of the recorder from GET /api/v1/health, refreshed every two seconds.
const $ = (id) => document.getElementById(id);

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (className) td.className = className;
  return td;
}

const TYPES = ["general", "motion", "alarm", "intelligent", "manual"];

function describeRecording(r) {
  if (!r) return "";
  if (!r.recording) return "not recording";
  const types = TYPES.filter((_, bit) => r.types & (1 << bit)).join("+");
  return `${types} → ${r.volume}`;
}

function gib(bytes) {
  return bytes == null ? "" : (bytes / 2 ** 30).toFixed(1);
}

function render(health) {
  $("summary").textContent =
    `${health.cameras_online}/${health.cameras_enabled} cameras online · ${health.board}`;
  const problems = [...health.problems];
  if (health.config.error) problems.push(`configuration: ${health.config.error}`);
  $("problems").hidden = problems.length === 0;
  $("problems").textContent = problems.join(" · ");
  const recording = new Map(health.recording.map((r) => [r.channel, r.streams]));
  const rows = [];
  for (const camera of health.cameras) {
    for (const [name, s] of Object.entries(camera.streams)) {
      const tr = document.createElement("tr");
      tr.append(
        cell(camera.channel), cell(camera.name), cell(name),
        cell(s.online ? "online" : "offline", s.online ? "online" : "offline"),
        cell(s.codec ? `${s.codec} ${s.width}×${s.height}` : ""),
        cell(s.fps), cell(s.bitrate_kbps),
        cell(describeRecording(recording.get(camera.channel)?.[name])),
        cell(s.reconnects), cell(s.last_error),
      );
      rows.push(tr);
    }
  }
  $("cameras").replaceChildren(...rows);
  $("volumes").replaceChildren(...health.volumes.map((v) => {
    const tr = document.createElement("tr");
    tr.append(
      cell(v.name), cell(v.state, v.state === "ready" ? "online" : "offline"),
      cell(gib(v.free_bytes)), cell(gib(v.total_bytes)), cell(v.streams.length),
      cell(v.write_latency_ms_p99), cell(v.reason),
    );
    return tr;
  }));
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}

function renderHardware(health) {
  $("bays").replaceChildren(...(health.bays ?? []).map((b) => row(
    cell(b.label ? `${b.bay} (${b.label})` : b.bay),
    cell(b.state, b.state === "recording" ? "online" : b.state === "error" ? "offline" : ""),
    cell(b.model), cell(b.size_bytes == null ? "" : (b.size_bytes / 1e9).toFixed(0)),
    cell(b.smart ? `${b.smart}: ${b.smart_summary}` : "",
         b.smart === "failing" || b.smart === "warning" ? "offline" : ""),
    cell(b.problem),
  )));
  const hw = health.hardware ?? { poe_ports: [], alarm_inputs: [], alarm_outputs: [], problems: {} };
  $("poe").replaceChildren(...hw.poe_ports.map((p) => row(
    cell(p.port), cell(p.camera_channel), cell(p.admin_enabled ? (p.shed ? "shed" : "on") : "off"),
    cell(p.power, p.power === "delivering" ? "online" : p.fault ? "offline" : ""),
    cell(p.pd_class), cell(p.power_mw == null ? "" : (p.power_mw / 1000).toFixed(1)), cell(p.fault),
  )));
  $("alarmio").replaceChildren(
    ...hw.alarm_inputs.map((a) => row(
      cell(`IN ${a.number}`), cell(a.name),
      cell(!a.enabled ? "disabled" : a.active ? "ALARM" : "normal", a.active ? "offline" : ""),
      cell(`${a.contact} contact`))),
    ...hw.alarm_outputs.map((o) => row(
      cell(`OUT ${o.number}`), cell(o.name), cell(o.on ? "on" : "off", o.on ? "online" : ""),
      cell(`mode ${o.mode}`))),
  );
  for (const [what, reason] of Object.entries(hw.problems)) {
    $("problems").hidden = false;
    $("problems").textContent += ` · ${what}: ${reason}`;
  }
}

async function refresh() {
  try {
    const response = await fetch("/api/v1/health", { cache: "no-store" });
    const health = await response.json();
    render(health);
    renderHardware(health);
  } catch (error) {
    $("summary").textContent = `recorder not reachable (${error})`;
  }
}

refresh();
setInterval(refresh, 2000);
