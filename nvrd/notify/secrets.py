"""The notification secrets in a configuration table (the exported bundle): left out
of an export without secrets, taken back from the box's configuration on import.

For ``nvrd/config/bundle.py``'s ``strip_secrets`` / ``restore_secrets``, which do the
same for camera passwords: the MQTT password and each webhook's secret are write-only
like them. A webhook's secret is matched by its URL (the hook's identity for a person
reading the bundle); the MQTT password by the broker (host and port), so a bundle from
another site does not log in to this site's broker with this site's password.
"""

from __future__ import annotations

from typing import Any

from nvrd.config.schema import MqttConfig, NvrConfig


def strip_notify_secrets(table: dict[str, Any]) -> None:
    """Remove ``notify.mqtt.password`` and every ``notify.webhooks[].secret``."""
    notify = table.get("notify")
    if not isinstance(notify, dict):
        return
    mqtt = notify.get("mqtt")
    if isinstance(mqtt, dict):
        mqtt.pop("password", None)
    for hook in notify.get("webhooks", []):
        if isinstance(hook, dict):
            hook.pop("secret", None)


def restore_notify_secrets(table: dict[str, Any], current: NvrConfig) -> int:
    """Fill the secrets an export without secrets left out from ``current`` (same
    broker; same webhook URL); how many were filled."""
    notify = table.get("notify")
    if not isinstance(notify, dict):
        return 0
    kept = 0
    mqtt, mine = notify.get("mqtt"), current.notify.mqtt
    if (isinstance(mqtt, dict) and "password" not in mqtt
            and mine.password.get_secret_value()
            and mqtt.get("host") == mine.host
            and mqtt.get("port", MqttConfig.model_fields["port"].default) == mine.port):
        mqtt["password"] = mine.password.get_secret_value()
        kept += 1
    secrets = {str(hook.url): hook.secret.get_secret_value()
               for hook in current.notify.webhooks if hook.secret.get_secret_value()}
    for hook in notify.get("webhooks", []):
        if isinstance(hook, dict) and "secret" not in hook and hook.get("url") in secrets:
            hook["secret"] = secrets[hook["url"]]
            kept += 1
    return kept
