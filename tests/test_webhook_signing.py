"""Signing per the Standard Webhooks specification, checked by the receivers' own library
(`standardwebhooks`), and the targets a webhook may go to."""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from uploader.webhooks import signing
from uploader.webhooks.targets import BadTarget, check_target, refused_address, split_url

BODY = '{"type":"upload.published","timestamp":"2026-12-07T04:00:00Z","data":{"a":1}}'


def signed(secrets: list[str], body: str = BODY) -> dict[str, str]:
    return signing.headers(secrets, "3f1c9a6e-5b6f-4a51-9d64-1f0e6c2b1a77", int(time.time()), body)


def test_a_secret_is_whsec_and_32_random_bytes():
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret != signing.new_secret()


def test_the_receivers_library_verifies_what_is_signed():
    secret = signing.new_secret()
    assert Webhook(secret).verify(BODY, signed([secret])) == {
        "type": "upload.published",
        "timestamp": "2026-12-07T04:00:00Z",
        "data": {"a": 1},
    }


def test_the_readmes_receiver_verifies_a_delivery_and_refuses_a_forged_one():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    found = re.search(r"<!-- verify:.*?-->\n```python\n(.*?)```", readme, re.DOTALL)
    assert found, "README.md lost its verify block"
    secret = signing.new_secret()
    receiver: dict[str, Any] = {}
    exec(found.group(1).replace("whsec_...", secret), receiver)  # the README's lines, as written
    assert receiver["receive"](BODY.encode(), signed([secret]))["data"] == {"a": 1}
    with pytest.raises(WebhookVerificationError):
        receiver["receive"](BODY.encode(), signed([signing.new_secret()]))


def test_the_signature_is_the_specifications_hmac_of_id_timestamp_and_body():
    secret = signing.new_secret()
    # The library's own signer, on the same id, timestamp and body.
    headers = signed([secret])
    moment = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    assert headers["webhook-signature"] == Webhook(secret).sign(headers["webhook-id"], moment, BODY)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b.replace("1", "2")),
        lambda h, b: ({**h, "webhook-id": "another"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
    ],
    ids=["body", "id", "timestamp"],
)
def test_a_change_to_the_body_the_id_or_the_timestamp_fails_verification(tamper):
    secret = signing.new_secret()
    headers, body = tamper(signed([secret]), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_two_secrets_sign_side_by_side_and_either_verifies():
    new, old, other = signing.new_secret(), signing.new_secret(), signing.new_secret()
    headers = signed([new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(BODY, headers)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud's metadata service
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not a public"),  # carrier-grade NAT
    ],
)
def test_a_non_public_address_is_refused(address, kind):
    assert kind in (refused_address(address) or "")


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_a_public_address_is_allowed(address):
    assert refused_address(address) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/x", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("https:///nohost", "no host"),
        ("https://user:pw@example.com/", "credentials"),
        ("http://example.com:99999/", "not a URL"),
        ("https://example.com/" + "x" * 2000, "at most 2000"),
    ],
)
def test_a_url_that_is_not_http_s_to_a_host_is_refused(url, problem):
    with pytest.raises(BadTarget, match=problem):
        split_url(url)


def test_a_url_gives_its_host_and_port():
    assert split_url("https://hooks.example.com/in") == ("hooks.example.com", 443)
    assert split_url("http://[::1]:8080/in") == ("::1", 8080)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/hook", "http://[::1]/hook", "https://10.0.0.7/", "http://localhost/"],
)
async def test_a_private_target_is_refused_unless_allowed(url):
    with pytest.raises(BadTarget, match="WEBHOOKS_ALLOW_PRIVATE=true"):
        await check_target(url, allow_private=False)
    await check_target(url, allow_private=True)


async def test_a_public_address_passes_without_asking_anyone():
    await check_target("https://93.184.215.14/hook", allow_private=False)
