"""The ``[notify]`` settings: what is accepted, what is refused (in words), secrets kept
out of messages and out of an export without secrets, and taken back on import."""

from __future__ import annotations

import tomllib

import pytest

from nvrd.config import ConfigError, dump_config, parse_config
from nvrd.notify.secrets import restore_notify_secrets, strip_notify_secrets

FULL = '''
[notify.mqtt]
enabled = true
host = "192.0.2.10"
port = 8883
tls = true
username = "nvr"
password = "mqtt-pw"
client_id = "nvr-site1"
base_topic = "site1/nvr"

[[notify.webhooks]]
url = "https://hooks.example/nvr"
secret = "hook-secret"
kinds = ["motion", "alarm_input"]
headers = { Authorization = "Bearer abc" }

[[notify.webhooks]]
url = "http://192.0.2.20:8080/in"
method = "PUT"
timeout_seconds = 2
'''


def problem(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "nvrd.toml")
    return str(caught.value)


def test_defaults_are_off_and_home_assistant_friendly() -> None:
    notify = parse_config("", "nvrd.toml").notify
    assert not notify.mqtt.enabled and notify.webhooks == ()
    assert (notify.mqtt.base_topic, notify.mqtt.discovery_prefix, notify.mqtt.retain) == (
        "nvrd", "homeassistant", True)


def test_a_full_section_survives_a_save_and_load() -> None:
    config = parse_config(FULL, "nvrd.toml")
    assert parse_config(dump_config(config), "nvrd.toml") == config
    hook = config.notify.webhooks[0]
    assert [k.value for k in hook.kinds] == ["motion", "alarm_input"]
    assert hook.secret.get_secret_value() == "hook-secret"
    assert "hook-secret" not in repr(config) and "mqtt-pw" not in repr(config)


@pytest.mark.parametrize(("text", "message"), [
    ("[notify.mqtt]\nenabled = true\n",
     "notify.mqtt.host: the broker's host is needed while MQTT is enabled"),
    ('[notify.mqtt]\nbase_topic = "nvr/#"\n',
     "notify.mqtt.base_topic: must be a topic such as 'nvrd' or 'site1/nvr'"),
    ('[notify.mqtt]\nclient_id = "a b"\n', "notify.mqtt.client_id"),
    ('[[notify.webhooks]]\nurl = "ftp://h/x"\n', "URL scheme must be 'http' or 'https'"),
    ('[[notify.webhooks]]\nurl = "http://h/"\nkinds = ["moton"]\n',
     "notify.webhooks[0].kinds[0]: must be 'alarm_input', 'motion'"),
    ('[[notify.webhooks]]\nurl = "http://h/"\nheaders = { "X-NVR-Signature" = "x" }\n',
     "the recorder sets X-NVR-Signature itself; remove it"),
    ('[[notify.webhooks]]\nurl = "http://h/"\nheaders = { "X-A" = "a\\r\\nX-B: b" }\n',
     "notify.webhooks[0].headers.X-A"),
    ('[[notify.webhooks]]\nurl = "http://h/"\ntimeout_seconds = 0\n',
     "notify.webhooks[0].timeout_seconds"),
])
def test_bad_settings_are_refused_naming_the_field(text: str, message: str) -> None:
    assert message in problem(text)


def test_a_bad_secret_is_not_quoted_in_the_error() -> None:
    text = problem('[[notify.webhooks]]\nurl = "http://h/"\nsecret = 12345678\n')
    assert "notify.webhooks[0].secret" in text and "12345678" not in text


def test_an_export_without_secrets_leaves_them_out_and_an_import_takes_them_back() -> None:
    current = parse_config(FULL, "nvrd.toml")
    table = tomllib.loads(dump_config(current))
    strip_notify_secrets(table)
    dumped = repr(table)
    assert "mqtt-pw" not in dumped and "hook-secret" not in dumped

    assert restore_notify_secrets(table, current) == 2
    assert table["notify"]["mqtt"]["password"] == "mqtt-pw"
    assert table["notify"]["webhooks"][0]["secret"] == "hook-secret"
    assert "secret" not in table["notify"]["webhooks"][1], "it had none"


def test_secrets_are_not_given_to_another_broker_or_url() -> None:
    current = parse_config(FULL, "nvrd.toml")
    table = tomllib.loads(dump_config(current))
    strip_notify_secrets(table)
    table["notify"]["mqtt"]["host"] = "198.51.100.1"
    table["notify"]["webhooks"][0]["url"] = "https://elsewhere.example/nvr"
    assert restore_notify_secrets(table, current) == 0
    assert "password" not in table["notify"]["mqtt"]
