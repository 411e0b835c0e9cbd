// Live status of the recorder from GET /api/v1/health, refreshed every two seconds.
const $ = (id) => document.getElementById(id);

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (className) td.className = className;
  return td;
}

function render(health) {
  $("summary").textContent =
    `${health.cameras_online}/${health.cameras_enabled} cameras online · ${health.board}`;
  const problems = [...health.problems];
  if (health.config.error) problems.push(`configuration: ${health.config.error}`);
  $("problems").hidden = problems.length === 0;
  $("problems").textContent = problems.join(" · ");
  const rows = [];
  for (const camera of health.cameras) {
    for (const [name, s] of Object.entries(camera.streams)) {
      const tr = document.createElement("tr");
      tr.append(
        cell(camera.channel), cell(camera.name), cell(name),
        cell(s.online ? "online" : "offline", s.online ? "online" : "offline"),
        cell(s.codec ? `${s.codec} ${s.width}×${s.height}` : ""),
        cell(s.fps), cell(s.bitrate_kbps), cell(s.reconnects), cell(s.last_error),
      );
      rows.push(tr);
    }
  }
  $("cameras").replaceChildren(...rows);
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
