"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis):
the daemon runs as systemd runs it, on the simulated board, and every operation is called
with generated requests as an admin (no 5xx, whatever the input); and every operation is
called without credentials (nothing but the public operations answers).

Operations that would end the test's daemon or its access are left out: reboot and the
other maintenance actions, disk preparation (minutes of mkfs), logout and the deletion of
sessions and tokens; so are setting the clock and syncing it now (run as root, they would
set this host's clock) and changing the network (it would set this host's interfaces).
They have their own tests. So do the streaming operations (``x-streaming``, the live
event stream): their answer never ends by itself, so a generated call would wait forever
(tests/web/routes/test_live.py reads the stream).
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.daemon_harness import Daemon, config_toml, free_port

pytestmark = [
    pytest.mark.slow,
    # the box's own self-signed certificate: verification is off on purpose
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

PASSWORD = "Kestrel-Night-47x"
# Left out: what would wipe or reset the box, and what reaches out to devices on the
# network (an NTP sync, a camera probe at a random address: seconds of timeouts each, and
# an unreachable camera is a 502 by design).
LEFT_OUT = re.compile(r"^/api/v1/(maintenance/|storage/bays/[^/]+/prepare$|sessions?(/|$)"
                      r"|tokens/|system/time/(set|sync)$"
                      r"|system/network/(interfaces/.+|confirm|revert)$"
                      r"|cameras/(discover|probe|onvif|activate|clocks/check)$)")
EXAMPLES = 12


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the box's own self-signed certificate
    return context


def _post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None
          ) -> tuple[dict[str, Any], str]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    with urllib.request.urlopen(request, context=_context(), timeout=30) as response:
        return json.load(response), response.headers.get("Set-Cookie", "")


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A running, initialized daemon: (base URL, admin API token)."""
    data: Path = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    (data / "nvrd.toml").write_text(config_toml(port))
    daemon = Daemon(data, port)
    try:
        daemon.wait_health(lambda h: h["hardware"] is not None)
        base = f"https://127.0.0.1:{port}"
        session, cookie = _post(f"{base}/api/v1/init", {"password": PASSWORD})
        token, _ = _post(f"{base}/api/v1/tokens", {"name": "fuzz"},
                         {"Cookie": cookie.split(";")[0],
                          "X-CSRF-Token": session["csrf_token"]})
        yield base, token["secret"]
        assert daemon.process.poll() is None, f"the daemon died:\n{daemon.log()[-3000:]}"
    finally:
        daemon.stop()
    assert "Traceback" not in daemon.log(), daemon.log()[-5000:]


@pytest.fixture(scope="module")
def api(box: tuple[str, str]) -> Any:
    base, token = box
    request = urllib.request.Request(f"{base}/api/v1/openapi.json",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, context=_context(), timeout=30) as response:
        document = json.load(response)
    document["servers"] = [{"url": base}]
    return (schemathesis.openapi.from_dict(document).exclude(path_regex=LEFT_OUT.pattern)
            .exclude(_streaming))


def _streaming(context: Any) -> bool:
    """An operation whose answer is a stream that does not end (see the module doc)."""
    return bool(context.operation.definition.raw.get("x-streaming"))


def _each_operation(api: Any) -> Iterator[Any]:
    for result in api.get_all_operations():
        yield result.ok()


def _fuzz(api: Any, examples: int, check: Any) -> list[str]:
    """Run ``check(case)`` on generated cases of every operation; what failed, by operation
    (hypothesis shrinks each failure to a small example)."""
    failures = []
    for operation in _each_operation(api):
        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            check(case)

        try:
            run()
        except Exception as exc:  # collect: one broken route must not hide the others
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return failures


def test_no_input_makes_the_api_fail(api: Any, box: tuple[str, str]) -> None:
    base, token = box
    session = requests.Session()
    session.verify = False

    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base, session=session,
                               headers={"Authorization": f"Bearer {token}"},
                               checks=[not_a_server_error], timeout=60, verify=False)

    failures = _fuzz(api, EXAMPLES, check)
    assert not failures, "\n\n".join(failures)


def test_nothing_answers_without_credentials(box: tuple[str, str]) -> None:
    """Every operation of the document, called without a session or token (path
    parameters filled in, an empty JSON body): only the public ones answer."""
    base, token = box
    request = urllib.request.Request(f"{base}/api/v1/openapi.json",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, context=_context(), timeout=30) as response:
        document = json.load(response)
    answered = []
    with requests.Session() as session:
        for path, operations in document["paths"].items():
            # session and token ids are 16 hex digits; every other parameter takes "1"
            hexadecimal = path.startswith(("/api/v1/sessions/", "/api/v1/tokens/"))
            url = base + re.sub(r"\{[^}]+\}", "0123456789abcdef" if hexadecimal else "1",
                                path)
            for method, operation in operations.items():
                kwargs: dict[str, Any] = ({"json": {}} if method in ("post", "put", "patch")
                                          else {})
                response = session.request(method, url, timeout=30, verify=False, **kwargs)
                assert response.status_code < 500, (method, path, response.text[:200])
                if operation.get("security") == []:
                    continue
                if response.status_code != 401:
                    answered.append(f"{method.upper()} {path}: {response.status_code}")
    assert not answered, "answered without credentials:\n" + "\n".join(answered)
