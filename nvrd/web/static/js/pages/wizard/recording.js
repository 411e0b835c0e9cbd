// Step 6: how every camera records by default. Continuous: the built-in "always"
// schedule. Motion: a schedule recording on motion all day, every day (saved as
// MOTION_SCHEDULE); ONVIF cameras report their own motion, others (with a sub stream)
// get the recorder's motion detection switched on. Applied camera by camera
// (PATCH /api/v1/cameras/N: mode, schedule, motion), each result shown.

import { api } from "../../api.js";
import { h, fill, uid } from "../../ui.js";

export const title = "Recording";

export const MOTION_SCHEDULE = "motion-all-day";
const DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "holiday"];

function motionSchedule() {
  const whole = [{ start: "00:00", end: "24:00", type: "motion" }];
  return { name: MOTION_SCHEDULE, days: Object.fromEntries(DAYS.map((day) => [day, whole])) };
}

function change(camera, choice) {
  if (choice === "continuous") return { mode: "auto", schedule: "always" };
  const body = { mode: "auto", schedule: MOTION_SCHEDULE };
  if (!camera.onvif?.events && camera.sub) body.motion = { ...camera.motion, enabled: true };
  return body;
}

function radio(name, value, label, hint, checked) {
  const id = uid("rec");
  return h("div", { class: "field check" },
    h("input", { type: "radio", id, name, value, checked, "aria-describedby": id + "-hint" }),
    h("label", { for: id }, label),
    h("p", { class: "hint", id: id + "-hint" }, hint));
}

export async function render(panel, ctx, signal, wizard) {
  const cameras = await api.get("/api/v1/cameras", { signal });
  const motionNow = cameras.length > 0 && cameras.every((c) => c.schedule === MOTION_SCHEDULE);
  const group = uid("mode");
  const results = h("ul", { class: "wizard-results", "aria-live": "polite" });
  const fieldset = h("fieldset", {},
    h("legend", {}, "How should every camera record?"),
    radio(group, "continuous", "Continuous recording",
      "Around the clock: the most footage, the most disk space.", !motionNow),
    radio(group, "motion", "Motion recording",
      "Only when something moves (with the pre- and post-record seconds around it): the disks last longer.", motionNow));
  const form = h("form", { class: "card narrow", noValidate: true }, fieldset,
    h("p", { class: "hint" }, cameras.length
      ? `Applies to the ${cameras.length} camera${cameras.length === 1 ? "" : "s"} on this recorder; each can be changed later under Settings → Recording.`
      : "There is no camera yet: cameras added later record continuously until changed under Settings → Recording."),
    results);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    wizard.next();
  });
  panel.append(form);

  return {
    async save() {
      const choice = form.querySelector(`input[name="${group}"]:checked`)?.value ?? "continuous";
      fill(results);
      if (choice === "motion") {
        try {
          await api.put(`/api/v1/recording/schedules/${MOTION_SCHEDULE}`, motionSchedule());
        } catch (error) {
          results.append(h("li", { class: "error", role: "alert" }, `The motion schedule could not be saved: ${error.message}`));
          return false;
        }
      }
      // The recorder's current list: a camera may have arrived since the step opened.
      const now = await api.get("/api/v1/cameras");
      let failed = 0;
      for (const camera of now) {
        const item = h("li", {}, `Channel ${camera.channel} (${camera.name}): `);
        results.append(item);
        try {
          await api.patch(`/api/v1/cameras/${camera.channel}`, change(camera, choice));
          item.append(h("span", { class: "ok" }, choice === "continuous" ? "records continuously" : "records on motion"));
        } catch (error) {
          failed += 1;
          item.append(h("span", { class: "error", role: "alert" }, error.message));
        }
      }
      return failed === 0;
    },
  };
}
