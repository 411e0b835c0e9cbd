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

async function refresh() {
  try {
    const response = await fetch("/api/v1/health", { cache: "no-store" });
    render(await response.json());
  } catch (error) {
    $("summary").textContent = `recorder not reachable (${error})`;
  }
}

refresh();
setInterval(refresh, 2000);
