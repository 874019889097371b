"""SMS layer: every provider against the local simulator, signatures checked independently, every answer classified."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from rules.sms import (
    OUTBOX_ACTION,
    SMS_CONFIG_SCHEMA,
    SmsStatus,
    aliyun,
    build_gateway,
    mask,
    outbox_action,
    resolve_secret,
    tencent,
    twilio,
)
from rules.sms.log import LogGateway
from rules.sms.simulator import ALIYUN_KEY_ID, TENCENT_APP_ID, TENCENT_SECRET_ID, TWILIO_FROM, TWILIO_SID, Simulator, start_simulator

S = SmsStatus
ENV = {"ALIYUN_SECRET": "sim-aliyun-secret", "TENCENT_SECRET": "sim-tencent-secret", "TWILIO_TOKEN": "sim-twilio-token",
       "WRONG": "not-the-secret"}
A, B = "13800001111", "13900002222"
PROVIDERS = ["aliyun", "tencent", "twilio"]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Simulator, str]]:
    sim, url, stop = start_simulator(sim=Simulator(timeout_delay=1.0))
    yield sim, url
    stop()


@pytest.fixture
def sim(server: tuple[Simulator, str]) -> Simulator:
    s = server[0]
    s.reset()
    return s


def config(provider: str, url: str, secret: str | None = None, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "aliyun": {"access_key_id": ALIYUN_KEY_ID, "access_key_secret": "${ALIYUN_SECRET}", "sign_name": "治具"},
        "tencent": {"secret_id": TENCENT_SECRET_ID, "secret_key": "${TENCENT_SECRET}", "sdk_app_id": TENCENT_APP_ID,
                    "sign_name": "治具"},
        "twilio": {"account_sid": TWILIO_SID, "auth_token": "${TWILIO_TOKEN}", "from": TWILIO_FROM},
    }[provider]
    cfg = {"provider": provider, **base, "endpoint": f"{url}/{provider}", "timeout": 0.4, **over}
    if secret:
        cfg[{"aliyun": "access_key_secret", "tencent": "secret_key", "twilio": "auth_token"}[provider]] = secret
    return cfg


def gateway(provider: str, server: tuple[Simulator, str], **over: Any) -> Any:
    return build_gateway(config(provider, server[1], **over), ENV)


def send(gw: Any, recipients: list[str] | None = None, key: str = "k-1") -> list[Any]:
    return gw.send(recipients or [A], "SMS_100", {"batch": "WF-0007", "days": "3"}, "外发批次 WF-0007 已逾期 3 天", key)


# ---- signatures, recomputed from the algorithm descriptions --------------------------------------------------

def test_aliyun_signature_matches_the_published_example() -> None:
    # The worked example of Aliyun's signature documentation (GET, testId/testSecret).
    p = {"AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123", "PhoneNumbers": "15300000001",
         "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用", "SignatureMethod": "HMAC-SHA1",
         "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466", "SignatureVersion": "1.0",
         "TemplateCode": "SMS_71390007", "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
         "Version": "2017-05-25"}
    assert aliyun.sign("GET", p, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def _pct(s: str) -> str:
    """RFC 3986 percent-encoding written out byte by byte (independent of urllib)."""
    safe = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
    return "".join(chr(b) if b in safe else f"%{b:02X}" for b in s.encode("utf-8"))


def test_aliyun_signature_recomputed_step_by_step() -> None:
    p = {"Action": "SendSms", "PhoneNumbers": "13800001111,13900002222", "SignName": "治具 工厂*",
         "TemplateParam": '{"batch":"WF-0007","note":"a+b=c ~ok"}', "Timestamp": "2026-11-20T02:00:00Z",
         "SignatureNonce": "n-1", "AccessKeyId": "id"}
    pairs = sorted((_pct(k), _pct(v)) for k, v in p.items())
    canonical = "&".join(f"{k}={v}" for k, v in pairs)
    assert "%20" in canonical and "%2A" in canonical and "~ok" in canonical  # the three classic traps
    to_sign = "POST&%2F&" + _pct(canonical)
    expected = base64.b64encode(hmac.new(b"s3cret&", to_sign.encode(), hashlib.sha1).digest()).decode()
    assert aliyun.string_to_sign("POST", p) == to_sign
    assert aliyun.sign("POST", p, "s3cret") == expected


def test_tencent_signature_recomputed_step_by_step() -> None:
    ts, host = 1763604000, "sms.tencentcloudapi.com"  # 2025-11-20T02:00:00Z
    payload = b'{"PhoneNumberSet":["+8613800001111"],"TemplateParamSet":["WF-0007"]}'
    canonical = ("POST\n/\n\n"
                 "content-type:application/json; charset=utf-8\nhost:sms.tencentcloudapi.com\n\n"
                 "content-type;host\n" + hashlib.sha256(payload).hexdigest())
    to_sign = "TC3-HMAC-SHA256\n1763604000\n2025-11-20/sms/tc3_request\n" + hashlib.sha256(canonical.encode()).hexdigest()

    def h(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    signing = h(h(h(b"TC3" + b"key-xyz", "2025-11-20"), "sms"), "tc3_request")
    sig = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    assert tencent.authorization("AKIDx", "key-xyz", host, payload, ts) == (
        "TC3-HMAC-SHA256 Credential=AKIDx/2025-11-20/sms/tc3_request, SignedHeaders=content-type;host, "
        f"Signature={sig}")


# ---- each provider against the simulator -------------------------------------------------------

def test_aliyun_success_sends_the_documented_request(server: tuple[Simulator, str], sim: Simulator) -> None:
    results = send(gateway("aliyun", server), [A, B])
    assert [r.status for r in results] == [S.SENT, S.SENT]
    assert results[0].provider_id and results[0].provider_id == results[1].provider_id  # one BizId per call
    assert sim.delivered == [
        {"provider": "aliyun", "to": n, "template": "SMS_100", "params": {"batch": "WF-0007", "days": "3"},
         "sign": "治具", "key": "k-1"} for n in (A, B)]


def test_aliyun_get_is_signed_with_get(server: tuple[Simulator, str], sim: Simulator) -> None:
    assert send(gateway("aliyun", server, method="GET"))[0].status == S.SENT


def test_tencent_success_uses_e164_and_template_order(server: tuple[Simulator, str], sim: Simulator) -> None:
    results = send(gateway("tencent", server), [A, "+86 139 0000 2222"])
    assert [r.status for r in results] == [S.SENT, S.SENT]
    assert [r.recipient for r in results] == [A, "+86 139 0000 2222"]  # answered as given
    assert [d["to"] for d in sim.delivered] == ["+8613800001111", "+8613900002222"]
    assert sim.delivered[0]["params"] == ["WF-0007", "3"] and sim.delivered[0]["key"] == "k-1"


def test_twilio_success_sends_the_text(server: tuple[Simulator, str], sim: Simulator) -> None:
    results = send(gateway("twilio", server), [A, B])
    assert [r.status for r in results] == [S.SENT, S.SENT]
    assert all(r.provider_id and r.provider_id.startswith("SM") for r in results)
    assert [(d["to"], d["text"], d["key"]) for d in sim.delivered] == [
        ("+8613800001111", "外发批次 WF-0007 已逾期 3 天", "k-1:+8613800001111"),
        ("+8613900002222", "外发批次 WF-0007 已逾期 3 天", "k-1:+8613900002222")]


@pytest.mark.parametrize("provider,code", [("aliyun", "SignatureDoesNotMatch"),
                                           ("tencent", "AuthFailure.SignatureFailure"), ("twilio", "20003")])
def test_wrong_secret_is_refused_and_alerts(server: tuple[Simulator, str], sim: Simulator, provider: str,
                                            code: str) -> None:
    results = send(gateway(provider, server, secret="${WRONG}"), [A, B])
    assert {(r.status, r.code) for r in results} == {(S.TEMPLATE_PROBLEM, code)}
    assert sim.delivered == []


FAULTS = [
    ("aliyun", "rate_limit", S.RATE_LIMITED, "isv.BUSINESS_LIMIT_CONTROL"),
    ("aliyun", "invalid_number", S.INVALID_RECIPIENT, "isv.MOBILE_NUMBER_ILLEGAL"),
    ("aliyun", "template", S.TEMPLATE_PROBLEM, "isv.SMS_TEMPLATE_ILLEGAL"),
    ("aliyun", "balance", S.NO_BALANCE, "isv.AMOUNT_NOT_ENOUGH"),
    ("aliyun", "server_error", S.TRANSIENT, "ServiceUnavailable"),
    ("tencent", "rate_limit", S.RATE_LIMITED, "LimitExceeded.PhoneNumberThirtySecondLimit"),
    ("tencent", "invalid_number", S.INVALID_RECIPIENT, "InvalidParameterValue.IncorrectPhoneNumber"),
    ("tencent", "template", S.TEMPLATE_PROBLEM, "FailedOperation.TemplateIncorrectOrUnapproved"),
    ("tencent", "balance", S.NO_BALANCE, "FailedOperation.InsufficientBalanceInSmsPackage"),
    ("tencent", "server_error", S.TRANSIENT, "HTTP 502"),
    ("twilio", "rate_limit", S.RATE_LIMITED, "20429"),
    ("twilio", "invalid_number", S.INVALID_RECIPIENT, "21211"),
    ("twilio", "template", S.TEMPLATE_PROBLEM, "21606"),
    ("twilio", "server_error", S.TRANSIENT, "20500"),
]


@pytest.mark.parametrize("provider,kind,status,code", FAULTS)
def test_injected_faults_are_classified(server: tuple[Simulator, str], sim: Simulator, provider: str, kind: str,
                                        status: str, code: str) -> None:
    sim.inject(provider, kind)
    result = send(gateway(provider, server))[0]
    assert (result.status, result.code) == (status, code)
    assert sim.delivered == []
    assert send(gateway(provider, server), key="k-2")[0].status == S.SENT  # count=1: the next call goes through


@pytest.mark.parametrize("provider,code", [("aliyun", "isv.DAY_LIMIT_CONTROL"),
                                           ("tencent", "LimitExceeded.PhoneNumberDailyLimit")])
def test_daily_limits_wait_until_the_quota_resets(server: tuple[Simulator, str], sim: Simulator, provider: str,
                                                  code: str) -> None:
    sim.inject(provider, "rate_limit", code=code)
    result = send(gateway(provider, server))[0]
    assert result.status == S.RATE_LIMITED and result.retry_after is not None and 0 < result.retry_after <= 86400


def test_twilio_rate_limit_honours_retry_after(server: tuple[Simulator, str], sim: Simulator) -> None:
    sim.inject("twilio", "rate_limit")
    assert send(gateway("twilio", server))[0].retry_after == 2.0


def test_real_bad_numbers_are_invalid_recipients(server: tuple[Simulator, str], sim: Simulator) -> None:
    assert send(gateway("aliyun", server), ["12345"])[0].status == S.INVALID_RECIPIENT
    assert [r.status for r in send(gateway("tencent", server), [A, "12345"])] == [S.SENT, S.INVALID_RECIPIENT]
    assert send(gateway("twilio", server), ["+1"])[0].status == S.INVALID_RECIPIENT


def test_tencent_partial_success_inside_a_200(server: tuple[Simulator, str], sim: Simulator) -> None:
    sim.inject("tencent", "rate_limit", number=B)
    ok, limited = send(gateway("tencent", server), [A, B])
    assert (ok.recipient, ok.status, ok.code) == (A, S.SENT, "Ok") and ok.provider_id
    assert (limited.recipient, limited.status, limited.code) == (B, S.RATE_LIMITED,
                                                                 "LimitExceeded.PhoneNumberThirtySecondLimit")
    assert limited.retry_after == 30.0 and limited.provider_id is None
    assert [d["to"] for d in sim.delivered] == ["+8613800001111"]
    # The outbox retries with the same key: the sent number is not texted again, the other one is.
    again = send(gateway("tencent", server), [A, B])
    assert [r.status for r in again] == [S.SENT, S.SENT] and again[0].provider_id == ok.provider_id
    assert [d["to"] for d in sim.delivered] == ["+8613800001111", "+8613900002222"]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", ["timeout", "drop"])
def test_timeouts_and_dropped_connections_are_transient(server: tuple[Simulator, str], sim: Simulator, provider: str,
                                                        kind: str) -> None:
    sim.inject(provider, kind, count=2)
    results = send(gateway(provider, server), [A, B], key=f"k-{kind}")
    assert [r.status for r in results] == [S.TRANSIENT, S.TRANSIENT]
    assert {r.code for r in results} == {"timeout" if kind == "timeout" else "network"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_same_key_twice_delivers_once(server: tuple[Simulator, str], sim: Simulator, provider: str) -> None:
    gw = gateway(provider, server)
    first, second = send(gw, [A, B], key="once"), send(gw, [A, B], key="once")
    assert [r.status for r in second] == [S.SENT, S.SENT]
    assert [r.provider_id for r in second] == [r.provider_id for r in first]
    assert len(sim.delivered) == 2
    send(gw, [A, B], key="another")
    assert len(sim.delivered) == 4


def test_retry_after_a_lost_answer_does_not_text_twice(server: tuple[Simulator, str], sim: Simulator) -> None:
    sim.inject("aliyun", "timeout")
    assert send(gateway("aliyun", server), key="lost")[0].status == S.TRANSIENT  # provider took it, answer lost
    assert send(gateway("aliyun", server), key="lost")[0].status == S.SENT
    assert len(sim.delivered) == 1


def test_long_keys_are_hashed_to_the_out_id_limit(server: tuple[Simulator, str], sim: Simulator) -> None:
    assert send(gateway("aliyun", server), key="x" * 200)[0].status == S.SENT
    assert len(sim.delivered[0]["key"]) == 64


def test_large_sends_are_split(server: tuple[Simulator, str], sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aliyun, "MAX_NUMBERS", 2)
    results = send(gateway("aliyun", server), [A, B, "13700003333"])
    assert [r.status for r in results] == [S.SENT] * 3 and len(sim.requests) == 2


# ---- the generic HTTP gateway -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def reseller() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A home-made reseller API: answers {"result": {"code": ..., "msgid": ...}}; number 1 is 'invalid'."""
    seen: list[dict[str, Any]] = []

    @Request.application
    def app(request: Request) -> Response:
        body = request.get_json(silent=True) or request.form.to_dict()
        seen.append({"body": body, "auth": request.headers.get("Authorization"), "args": request.args.to_dict()})
        if request.path == "/busy":
            return Response("slow down", 429)
        code = "4001" if "1" == body.get("mobile") else "0"
        return Response(json.dumps({"result": {"code": code, "msgid": f"m{len(seen)}"}}), 200,
                        content_type="application/json")

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}", seen
    srv.shutdown()


HTTP_CFG: dict[str, Any] = {
    "provider": "http", "headers": {"Authorization": "Bearer ${RESELLER_TOKEN}"},
    "body": {"mobile": "{{ to }}", "content": "【治具】{{ text }}", "tpl": "{{ template }}", "vars": {"b": "{{ params.batch }}"},
             "ref": "{{ key }}"},
    "result_path": "result.code", "result_map": {"0": "sent", "4001": "invalid_recipient"}, "id_path": "result.msgid",
}


def test_http_gateway_fills_the_body_and_reads_the_answer(reseller: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = reseller
    seen.clear()
    gw = build_gateway({**HTTP_CFG, "url": url + "/send"}, {"RESELLER_TOKEN": "tok-123"})
    results = send(gw, [A, "1"])
    assert [(r.status, r.code) for r in results] == [(S.SENT, "0"), (S.INVALID_RECIPIENT, "4001")]
    assert results[0].provider_id == "m1"
    assert seen[0]["body"] == {"mobile": A, "content": "【治具】外发批次 WF-0007 已逾期 3 天", "tpl": "SMS_100",
                               "vars": {"b": "WF-0007"}, "ref": "k-1"}
    assert seen[0]["auth"] == "Bearer tok-123"


def test_http_gateway_join_form_and_status_classes(reseller: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = reseller
    seen.clear()
    cfg = {"provider": "http", "url": url + "/send", "body_format": "form", "multi": "join",
           "body": {"mobile": "{{ to }}", "msg": "{{ text }}"}}
    assert [r.status for r in send(build_gateway(cfg, {}), [A, B])] == [S.SENT, S.SENT]
    assert seen == [{"body": {"mobile": f"{A},{B}", "msg": "外发批次 WF-0007 已逾期 3 天"}, "auth": None, "args": {}}]
    assert send(build_gateway({**cfg, "url": url + "/busy"}, {}))[0].status == S.RATE_LIMITED
    missing = build_gateway({**cfg, "body": {"x": "{{ params.nope }}"}}, {})
    assert send(missing)[0].status == S.TEMPLATE_PROBLEM
    with pytest.raises(ValueError, match="unknown placeholders"):
        build_gateway({**cfg, "body": {"x": "{{ phone }}"}}, {})


# ---- secrets and logs -------------------------------------------------------------------------------

def test_secrets_must_be_environment_references(server: tuple[Simulator, str]) -> None:
    for provider in PROVIDERS:
        with pytest.raises(ValueError, match=r"secrets must be environment references") as info:
            build_gateway(config(provider, server[1], secret="literal-Secret-123"), ENV)
        assert "literal-Secret-123" not in str(info.value)
    with pytest.raises(ValueError, match="MISSING_VAR is not set"):
        build_gateway(config("aliyun", server[1], secret="${MISSING_VAR}"), ENV)
    with pytest.raises(ValueError, match="secrets must be environment references"):
        build_gateway({"provider": "http", "url": "http://x/", "headers": {"X-Api-Key": "abc"}}, {})
    with pytest.raises(ValueError, match="secrets must be environment references"):
        resolve_secret("plain", ENV)
    assert resolve_secret("${ALIYUN_SECRET}", ENV) == "sim-aliyun-secret"


def test_config_schema_is_valid_and_catches_typos(server: tuple[Simulator, str]) -> None:
    Draft202012Validator.check_schema(SMS_CONFIG_SCHEMA)
    with pytest.raises(ValueError, match="sign-name"):
        build_gateway({**config("aliyun", server[1]), "sign-name": "x"}, ENV)
    with pytest.raises(ValueError, match="sign_name"):
        build_gateway({k: v for k, v in config("tencent", server[1]).items() if k != "sign_name"}, ENV)
    with pytest.raises(ValueError, match="provider"):
        build_gateway({"provider": "carrier-pigeon"}, ENV)


def test_logs_and_results_never_show_secrets(server: tuple[Simulator, str], sim: Simulator,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for provider in PROVIDERS:
        send(gateway(provider, server))
        send(gateway(provider, server, secret="${WRONG}"))
    # a network failure whose exception text contains the URL with a token in it
    gw = build_gateway({"provider": "http", "url": "http://127.0.0.1:9/send?token=${TOK}", "timeout": 0.3},
                       {"TOK": "tok-SECRET-77"})
    result = send(gw)[0]
    assert result.status == S.TRANSIENT and "***" in result.detail and "tok-SECRET-77" not in result.detail
    text = caplog.text
    for secret in [*ENV.values(), "tok-SECRET-77"]:
        assert secret not in text
    assert A not in text and "138****1111" in text  # numbers are masked too
    assert mask("key=abc abcd", ["abc", "abcd"]) == "key=*** ***"


# ---- classification tables and the outbox mapping ---------------------------------------------------

@pytest.mark.parametrize("code,status", [
    ("OK", S.SENT), ("isv.BUSINESS_LIMIT_CONTROL", S.RATE_LIMITED), ("Throttling.User", S.RATE_LIMITED),
    ("isv.MOBILE_NUMBER_ILLEGAL", S.INVALID_RECIPIENT), ("isv.MOBILE_COUNT_OVER_LIMIT", S.INVALID_RECIPIENT),
    ("isv.SMS_TEMPLATE_ILLEGAL", S.TEMPLATE_PROBLEM), ("isv.SMS_SIGNATURE_ILLEGAL", S.TEMPLATE_PROBLEM),
    ("isv.TEMPLATE_MISSING_PARAMETERS", S.TEMPLATE_PROBLEM), ("isv.INVALID_PARAMETERS", S.TEMPLATE_PROBLEM),
    ("isv.AMOUNT_NOT_ENOUGH", S.NO_BALANCE), ("isv.OUT_OF_SERVICE", S.NO_BALANCE), ("isp.SYSTEM_ERROR", S.TRANSIENT),
    ("InvalidAccessKeyId.NotFound", S.TEMPLATE_PROBLEM), ("isv.SOMETHING_NEW", S.TEMPLATE_PROBLEM),
    ("isp.SOMETHING_NEW", S.TRANSIENT)])
def test_aliyun_codes(code: str, status: str) -> None:
    assert aliyun.classify(code) == status


@pytest.mark.parametrize("code,status", [
    ("Ok", S.SENT), ("LimitExceeded.PhoneNumberDailyLimit", S.RATE_LIMITED),
    ("LimitExceeded.PhoneNumberThirtySecondLimit", S.RATE_LIMITED), ("RequestLimitExceeded", S.RATE_LIMITED),
    ("InvalidParameterValue.IncorrectPhoneNumber", S.INVALID_RECIPIENT),
    ("FailedOperation.PhoneNumberInBlacklist", S.INVALID_RECIPIENT),
    ("FailedOperation.TemplateIncorrectOrUnapproved", S.TEMPLATE_PROBLEM),
    ("FailedOperation.SignatureIncorrectOrUnapproved", S.TEMPLATE_PROBLEM),
    ("InvalidParameterValue.TemplateParameterFormatError", S.TEMPLATE_PROBLEM),
    ("FailedOperation.InsufficientBalanceInSmsPackage", S.NO_BALANCE), ("AuthFailure.SecretIdNotFound", S.TEMPLATE_PROBLEM),
    ("InternalError.Timeout", S.TRANSIENT), ("InternalError", S.TRANSIENT)])
def test_tencent_codes(code: str, status: str) -> None:
    assert tencent.classify(code) == status


@pytest.mark.parametrize("http_status,code,status", [
    (201, None, S.SENT), (429, None, S.RATE_LIMITED), (429, 20429, S.RATE_LIMITED), (400, 21211, S.INVALID_RECIPIENT),
    (400, 21614, S.INVALID_RECIPIENT), (400, 21610, S.INVALID_RECIPIENT), (401, 20003, S.TEMPLATE_PROBLEM),
    (400, 21606, S.TEMPLATE_PROBLEM), (503, None, S.TRANSIENT), (400, 99999, S.TEMPLATE_PROBLEM)])
def test_twilio_codes(http_status: int, code: int | None, status: str) -> None:
    assert twilio.classify(http_status, code) == status


def test_outbox_actions() -> None:
    assert set(OUTBOX_ACTION) == set(S.ALL)
    r = [build_gateway({"provider": "log"}).send([A], "", {}, "hi", "k")[0]]
    assert outbox_action(r) == "sent"

    def res(*statuses: str) -> list[Any]:
        return [type(r[0])("x", s) for s in statuses]
    assert outbox_action(res(S.SENT, S.RATE_LIMITED)) == "retry"
    assert outbox_action(res(S.SENT, S.INVALID_RECIPIENT)) == "sent"
    assert outbox_action(res(S.INVALID_RECIPIENT)) == "dead"
    assert outbox_action(res(S.TRANSIENT, S.NO_BALANCE)) == "alert"


def test_log_gateway_keeps_messages(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    gw = build_gateway({"provider": "log"})
    assert isinstance(gw, LogGateway)
    assert [r.status for r in send(gw, [A, B])] == [S.SENT, S.SENT]
    assert [m["to"] for m in gw.messages] == [A, B] and gw.messages[0]["text"].startswith("外发批次")
    assert "外发批次" in caplog.text


def test_until_midnight_china() -> None:
    from rules.sms.base import until_midnight_china
    assert until_midnight_china(dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)) == pytest.approx(3600 + 5)


def test_documented_configurations_are_valid() -> None:
    import re
    from pathlib import Path

    import yaml
    doc = (Path(__file__).resolve().parent.parent / "docs" / "sms.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```yaml\n(.*?)^```", doc, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 5
    env = {n: "x" for n in ("ALIYUN_ACCESS_KEY_SECRET", "TENCENT_SMS_SECRET_KEY", "TWILIO_AUTH_TOKEN", "SMS_RESELLER_TOKEN")}
    assert sorted(build_gateway(yaml.safe_load(b)["sms"], env).name for b in blocks) == [
        "aliyun", "http", "log", "tencent", "twilio"]


def test_retry_after_header_forms() -> None:
    assert twilio.retry_after("7") == 7.0
    assert twilio.retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert twilio.retry_after("soon") is None and twilio.retry_after(None) is None
