import json

import pytest

from tsync.webhook.signature import SignatureError, sign, verify

KEY = "whsec_example_signing_key"
STAMP = 1781517120
BODY = b'{"webhook_trigger_type":"STATUS_CHANGE_EVENT","event":{"id":48213377,"status":"CLOSED"}}'
T_V1_DIGEST = "322ab205a728ea98bf1983903e833d5907db80c2e9d598b66d3a99309d3472fb"
HEX_DIGEST = "403d5266b8bfa40dad108d9bc4599b3bff86f791c6c5480e34a533ed5786d170"


def test_sign_t_v1_matches_vector():
    assert sign(BODY, KEY, timestamp=STAMP) == f"t={STAMP},v1={T_V1_DIGEST}"


def test_sign_hex_matches_vector():
    assert sign(BODY, KEY, scheme="hex") == HEX_DIGEST


def test_verify_t_v1_vector():
    header = f"t={STAMP},v1={T_V1_DIGEST}"
    assert verify(BODY, header, KEY, now=STAMP + 10) == "t_v1"


def test_verify_hex_vector():
    assert verify(BODY, HEX_DIGEST, KEY) == "hex"


def test_verify_hex_uppercase_and_prefix():
    assert verify(BODY, HEX_DIGEST.upper(), KEY) == "hex"
    assert verify(BODY, f"sha256={HEX_DIGEST}", KEY) == "hex"


def test_verify_base64_round_trip():
    header = sign(BODY, KEY, scheme="base64")
    assert verify(BODY, header, KEY) == "base64"
    assert verify(BODY, header, KEY, scheme="base64") == "base64"


def test_verify_pinned_scheme_rejects_other():
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY, HEX_DIGEST, KEY, scheme="base64")
    with pytest.raises(SignatureError, match="malformed"):
        verify(BODY, HEX_DIGEST, KEY, scheme="t_v1")


def test_verify_missing_header():
    for header in (None, "", "   "):
        with pytest.raises(SignatureError, match="missing"):
            verify(BODY, header, KEY)


@pytest.mark.parametrize("header", [
    "t=abc,v1=00",
    f"t={STAMP}",
    f"t={STAMP},v1",
    f"v1={T_V1_DIGEST},t=",
])
def test_verify_malformed_t_v1(header):
    with pytest.raises(SignatureError, match="malformed"):
        verify(BODY, header, KEY, now=STAMP)


def test_verify_wrong_secret():
    header = sign(BODY, "another-key", timestamp=STAMP)
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY, header, KEY, now=STAMP)


def test_verify_rotation_any_v1_matches():
    old = sign(BODY, "old-key", timestamp=STAMP).split(",v1=")[1]
    header = f"t={STAMP},v1={old},v1={T_V1_DIGEST}"
    assert verify(BODY, header, KEY, now=STAMP) == "t_v1"


def test_verify_ignores_unknown_entries():
    header = f"t={STAMP},v0=ignored,v1={T_V1_DIGEST}"
    assert verify(BODY, header, KEY, now=STAMP) == "t_v1"


def test_verify_expired_timestamp():
    header = sign(BODY, KEY, timestamp=STAMP)
    assert verify(BODY, header, KEY, now=STAMP + 300) == "t_v1"
    with pytest.raises(SignatureError, match="outside the tolerance.*old"):
        verify(BODY, header, KEY, now=STAMP + 301)


def test_verify_future_timestamp():
    header = sign(BODY, KEY, timestamp=STAMP)
    with pytest.raises(SignatureError, match="outside the tolerance.*future"):
        verify(BODY, header, KEY, now=STAMP - 301)


def test_verify_custom_tolerance():
    header = sign(BODY, KEY, timestamp=STAMP)
    assert verify(BODY, header, KEY, now=STAMP + 3000, tolerance=3600) == "t_v1"
    with pytest.raises(SignatureError, match="tolerance"):
        verify(BODY, header, KEY, now=STAMP + 20, tolerance=10)


def test_verify_reserialised_body_fails():
    header = sign(BODY, KEY, timestamp=STAMP)
    reserialised = json.dumps(json.loads(BODY)).encode("utf-8")
    assert reserialised != BODY
    with pytest.raises(SignatureError, match="does not match"):
        verify(reserialised, header, KEY, now=STAMP)


def test_verify_non_ascii_body():
    body = json.dumps(
        {"webhook_trigger_type": "UPDATE_EVENT", "event": {"id": 7, "name": "Café Zoë"}}, ensure_ascii=False
    ).encode("utf-8")
    header = sign(body, KEY, timestamp=STAMP)
    assert verify(body, header, KEY, now=STAMP) == "t_v1"
    assert verify(body, sign(body, KEY, scheme="hex"), KEY) == "hex"
    with pytest.raises(SignatureError):
        verify(body.replace("Zoë".encode(), "Zoe".encode()), header, KEY, now=STAMP)


def test_verify_non_ascii_header_rejected():
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY, "é" * 64, KEY)


def test_verify_tampered_body_fails_every_scheme():
    tampered = BODY.replace(b"CLOSED", b"LOST")
    for header in (sign(BODY, KEY, timestamp=STAMP), HEX_DIGEST, sign(BODY, KEY, scheme="base64")):
        with pytest.raises(SignatureError):
            verify(tampered, header, KEY, now=STAMP)


def test_verify_rejects_unknown_scheme():
    with pytest.raises(ValueError, match="not valid"):
        verify(BODY, HEX_DIGEST, KEY, scheme="md5")


def test_sign_rejects_empty_secret():
    with pytest.raises(ValueError, match="empty"):
        sign(BODY, "")


@pytest.mark.parametrize("stamp", ["²", "1781517120²", "١٧٨١٥١٧١٢٠", "+1781517120", "9" * 13, "9" * 5000])
def test_verify_t_v1_rejects_odd_timestamp(stamp):
    with pytest.raises(SignatureError, match="malformed: timestamp t"):
        verify(BODY, f"t={stamp},v1={T_V1_DIGEST}", KEY, now=STAMP)


def test_verify_t_v1_twelve_digit_timestamp():
    stamp = 10**11
    header = sign(BODY, KEY, timestamp=stamp)
    assert verify(BODY, header, KEY, now=stamp) == "t_v1"
