"""Local stand-ins for the Aliyun, Tencent and Twilio SMS APIs, for tests and demos without accounts.

They check what the real services check and answer in their formats: the
signatures are recomputed from the received bytes (so a client bug in
canonicalisation fails here, not first in production), numbers are
validated, and faults can be injected on demand. Successful sends are
remembered per idempotency key (Aliyun OutId, Tencent SessionContext per
number, Twilio I-Twilio-Idempotency-Token): a repeat returns the first
answer without delivering again. NB: as far as we know the real services
use these fields only as echoed references, not to deduplicate; the
simulator models the behaviour Jig's outbox relies on its own keys for.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import aliyun, tencent

ALIYUN_KEY_ID, ALIYUN_SECRET = "LTAI5tSimulatorKey", "sim-aliyun-secret"
TENCENT_SECRET_ID, TENCENT_SECRET_KEY, TENCENT_APP_ID = "AKIDsimulator", "sim-tencent-secret", "1400000001"
TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM = "AC" + "5" * 32, "sim-twilio-token", "+15005550006"

CN_MOBILE = re.compile(r"^(?:\+?86|0086)?(1[3-9]\d{9})$")
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
KINDS = {"rate_limit", "invalid_number", "template", "balance", "server_error", "timeout", "drop"}

# kind → provider's answer. Aliyun: (code, message); Tencent: (code, per_number?); Twilio: (http, code, message).
ALIYUN_FAULTS = {"rate_limit": ("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1"),
                 "invalid_number": ("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
                 "template": ("isv.SMS_TEMPLATE_ILLEGAL", "模板不合法(不存在或被拉黑)"),
                 "balance": ("isv.AMOUNT_NOT_ENOUGH", "账户余额不足")}
TENCENT_FAULTS = {"rate_limit": ("LimitExceeded.PhoneNumberThirtySecondLimit", True),
                  "invalid_number": ("InvalidParameterValue.IncorrectPhoneNumber", True),
                  "template": ("FailedOperation.TemplateIncorrectOrUnapproved", False),
                  "balance": ("FailedOperation.InsufficientBalanceInSmsPackage", False)}
TWILIO_FAULTS = {"rate_limit": (429, 20429, "Too Many Requests"),
                 "invalid_number": (400, 21211, "The 'To' number is not a valid phone number."),
                 "template": (400, 21606, "The 'From' phone number provided is not a valid message-capable number."),
                 "server_error": (500, 20500, "Internal Server Error")}


@dataclass
class Fault:
    provider: str
    kind: str
    count: int
    rate: float | None
    number: str | None
    code: str | None


def digits(number: str) -> str:
    m = CN_MOBILE.match(number.strip())
    return m.group(1) if m else number.strip().lstrip("+")


def as_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status, headers, content_type="application/json; charset=utf-8")


class Dropped(ConnectionAbortedError):
    """Raised after shutting the socket: werkzeug treats it as a vanished client and stays quiet."""


class Simulator:
    def __init__(self, timeout_delay: float = 1.5, seed: int = 0) -> None:
        self.aliyun_keys = {ALIYUN_KEY_ID: ALIYUN_SECRET}
        self.tencent_keys = {TENCENT_SECRET_ID: TENCENT_SECRET_KEY}
        self.tencent_apps = {TENCENT_APP_ID}
        self.twilio_accounts = {TWILIO_SID: TWILIO_TOKEN}
        self.twilio_from = {TWILIO_FROM}
        self.timeout_delay = timeout_delay
        self.delivered: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []  # every call received: provider, outcome code
        self.faults: list[Fault] = []
        self._answers: dict[tuple[str, ...], Any] = {}
        self._nonces: set[str] = set()
        self._rng = random.Random(seed)
        self._lock = threading.RLock()

    # ---- control -------------------------------------------------------------------

    def inject(self, provider: str, kind: str, count: int = 1, rate: float | None = None,
               number: str | None = None, code: str | None = None) -> None:
        """Make the next ``count`` calls (or a ``rate`` share of all calls) fail as ``kind``.

        ``number`` limits the fault to calls including that number; on Tencent,
        rate_limit and invalid_number then fail only that number inside a 200
        answer (partial success). ``code`` overrides the provider code sent.
        """
        if provider not in ("aliyun", "tencent", "twilio") or kind not in KINDS:
            raise ValueError(f"unknown provider or fault: {provider} {kind}")
        if provider == "twilio" and kind == "balance":
            raise ValueError("Twilio has no distinct out-of-balance error code at send time")
        with self._lock:
            self.faults.append(Fault(provider, kind, count, rate, digits(number) if number else None, code))

    def clear(self) -> None:
        """Drop pending faults."""
        with self._lock:
            self.faults.clear()

    def reset(self) -> None:
        """Forget everything: faults, deliveries, calls and remembered idempotency keys."""
        with self._lock:
            self.faults.clear()
            self.delivered.clear()
            self.requests.clear()
            self._answers.clear()

    def _fault(self, provider: str, numbers: Iterable[str]) -> Fault | None:
        wanted = {digits(n) for n in numbers}
        with self._lock:
            for f in list(self.faults):
                if f.provider != provider or (f.number and f.number not in wanted):
                    continue
                if f.rate is not None:
                    if self._rng.random() < f.rate:
                        return f
                    continue
                f.count -= 1
                if f.count <= 0:
                    self.faults.remove(f)
                return f
        return None

    def _deliver(self, **record: Any) -> None:
        with self._lock:
            self.delivered.append(record)

    def _log(self, provider: str, code: str) -> None:
        with self._lock:
            self.requests.append({"provider": provider, "code": code})

    # ---- WSGI ----------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        route = {"aliyun": self._aliyun, "tencent": self._tencent, "twilio": self._twilio}
        handler = route.get(request.path.strip("/").split("/")[0])
        response = handler(request) if handler else Response("not found", 404)
        return response(environ, start_response)

    def _misbehave(self, fault: Fault | None, request: Request) -> None:
        """Faults that are about the connection, not the answer."""
        if fault and fault.kind == "drop":
            sock = request.environ.get("werkzeug.socket")
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
            raise Dropped("simulated dropped connection")

    def _late(self, fault: Fault | None) -> None:
        if fault and fault.kind == "timeout":
            time.sleep(self.timeout_delay)  # processed, but the answer arrives after the client gave up

    # ---- Aliyun --------------------------------------------------------------------

    def _aliyun(self, request: Request) -> Response:
        p = {**request.args.to_dict(), **request.form.to_dict()}

        def err(code: str, message: str, status: int = 400) -> Response:
            self._log("aliyun", code)
            return as_json({"RequestId": str(uuid.uuid4()), "HostId": "dysmsapi.aliyuncs.com", "Code": code,
                            "Message": message}, status)

        signature = p.pop("Signature", "")
        if not signature or p.get("SignatureMethod") != "HMAC-SHA1" or p.get("SignatureVersion") != "1.0":
            return err("IncompleteSignature", "The request signature does not conform to Aliyun standards.")
        secret = self.aliyun_keys.get(p.get("AccessKeyId", ""))
        if secret is None:
            return err("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        try:
            ts = dt.datetime.strptime(p.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            return err("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
        if abs((dt.datetime.now(dt.UTC) - ts).total_seconds()) > 900:
            return err("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        expected = aliyun.sign(request.method, p, secret)
        if not hmac.compare_digest(expected, signature):
            return err("SignatureDoesNotMatch", "Specified signature is not matched with our calculation. "
                       f"server string to sign is:{aliyun.string_to_sign(request.method, p)}")
        with self._lock:
            if p.get("SignatureNonce", "") in self._nonces:
                return err("SignatureNonceUsed", "Specified signature nonce was used already.")
            self._nonces.add(p.get("SignatureNonce", ""))
        if p.get("Action") != "SendSms" or p.get("Version") != "2017-05-25":
            return err("InvalidParameter", "Action or Version not supported here.")
        numbers = [n for n in p.get("PhoneNumbers", "").split(",") if n]
        memo = ("aliyun", p.get("AccessKeyId", ""), p.get("OutId", ""), p.get("PhoneNumbers", ""))
        if p.get("OutId") and memo in self._answers:
            self._log("aliyun", "OK (repeat)")
            return as_json(self._answers[memo])
        fault = self._fault("aliyun", numbers)
        self._misbehave(fault, request)
        if fault and fault.kind == "server_error":
            return err(fault.code or "ServiceUnavailable", "The request has failed due to a temporary failure.", 503)
        if fault and fault.kind in ALIYUN_FAULTS:
            code, message = ALIYUN_FAULTS[fault.kind]
            return err(fault.code or code, message, 200)
        if not numbers or len(numbers) > aliyun.MAX_NUMBERS:
            return err("isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制", 200)
        if not all(CN_MOBILE.match(n) for n in numbers):
            return err("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号", 200)
        try:
            params = json.loads(p.get("TemplateParam") or "{}")
        except ValueError:
            params = None
        if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
            return err("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值", 200)
        answer = {"RequestId": str(uuid.uuid4()), "Code": "OK", "Message": "OK",
                  "BizId": f"{self._rng.randrange(10**14, 10**15)}^0"}
        for n in numbers:
            self._deliver(provider="aliyun", to=n, template=p.get("TemplateCode"), params=params,
                          sign=p.get("SignName"), key=p.get("OutId"))
        if p.get("OutId"):
            self._answers[memo] = answer
        self._log("aliyun", "OK")
        self._late(fault)
        return as_json(answer)

    # ---- Tencent -------------------------------------------------------------------

    def _tencent(self, request: Request) -> Response:
        def err(code: str, message: str) -> Response:
            self._log("tencent", code)
            return as_json({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}})

        auth = re.fullmatch(r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([a-z]+)/tc3_request, "
                            r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})", request.headers.get("Authorization", ""))
        if not auth:
            return err("AuthFailure.InvalidAuthorization", "Authorization header is not TC3-HMAC-SHA256.")
        secret_id, date, service, signed, given = auth.groups()
        secret = self.tencent_keys.get(secret_id)
        if secret is None:
            return err("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        try:
            ts = int(request.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            return err("MissingParameter", "X-TC-Timestamp is missing.")
        if abs(time.time() - ts) > 300:
            return err("AuthFailure.SignatureExpire", "Signature expired.")
        names = signed.split(";")
        if service != "sms" or date != tencent.date_of(ts) or not {"content-type", "host"} <= set(names) \
                or any(n not in request.headers for n in names):
            return err("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
        payload = request.get_data()
        canonical = tencent.canonical_request(request.method, dict(request.headers), names, payload,
                                              query=request.query_string.decode())
        expected = tencent.signature(secret, ts, tencent.string_to_sign(ts, canonical))
        if not hmac.compare_digest(expected, given):
            return err("AuthFailure.SignatureFailure", "The provided credentials could not be validated. "
                       "Please check your signature is correct.")
        if request.headers.get("X-TC-Action") != "SendSms" or request.headers.get("X-TC-Version") != tencent.VERSION:
            return err("InvalidAction", "Action or version not supported here.")
        try:
            body = json.loads(payload)
            numbers, ctx = list(body["PhoneNumberSet"]), str(body.get("SessionContext", ""))
        except (ValueError, KeyError, TypeError):
            return err("InvalidParameter", "The request body is not a SendSms request.")
        if str(body.get("SmsSdkAppId")) not in self.tencent_apps:
            return err("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId verification failed.")
        repeated = {n: self._answers.get(("tencent", secret_id, ctx, n)) for n in numbers} if ctx else {}
        fresh = [n for n in numbers if not repeated.get(n)]
        fault = self._fault("tencent", fresh) if fresh else None
        self._misbehave(fault, request)
        if fault and fault.kind == "server_error":
            self._log("tencent", "HTTP 502")
            return Response("<html><body>502 Bad Gateway</body></html>", 502, content_type="text/html")
        per_number = None
        if fault and fault.kind in TENCENT_FAULTS:
            code, is_per_number = TENCENT_FAULTS[fault.kind]
            if not is_per_number:
                return err(fault.code or code, "simulated failure")
            per_number = (fault.code or code, fault.number)
        statuses = []
        for n in numbers:
            if repeated.get(n):
                statuses.append(repeated[n])
                continue
            if per_number and (per_number[1] is None or digits(n) == per_number[1]):
                code, message = per_number[0], "simulated failure"
            elif not E164.match(n) or (n.startswith("+86") and not CN_MOBILE.match(n)):
                code, message = "InvalidParameterValue.IncorrectPhoneNumber", "手机号格式错误"
            else:
                code, message = "Ok", "send success"
            entry = {"SerialNo": f"2433:{uuid.uuid4().int % 10**20}" if code == "Ok" else "", "PhoneNumber": n,
                     "Fee": 1 if code == "Ok" else 0, "SessionContext": ctx, "Code": code, "Message": message,
                     "IsoCode": "CN" if n.startswith("+86") else "XX"}
            statuses.append(entry)
            if code == "Ok":
                self._deliver(provider="tencent", to=n, template=body.get("TemplateId"),
                              params=list(body.get("TemplateParamSet") or []), sign=body.get("SignName"), key=ctx)
                if ctx:
                    self._answers[("tencent", secret_id, ctx, n)] = entry
        self._log("tencent", ",".join(s["Code"] for s in statuses))
        self._late(fault)
        return as_json({"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}})

    # ---- Twilio --------------------------------------------------------------------

    def _twilio(self, request: Request) -> Response:
        def err(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
            self._log("twilio", str(code))
            return as_json({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                            "status": status}, status, headers)

        m = re.fullmatch(r"/twilio/2010-04-01/Accounts/([^/]+)/Messages\.json", request.path)
        if not m or request.method != "POST":
            return err(404, 20404, "The requested resource was not found")
        auth = request.authorization
        user, password = (auth.username, auth.password) if auth and auth.type == "basic" else ("", "")
        token = self.twilio_accounts.get(user or "")
        if token is None or not hmac.compare_digest(token, password or "") or m.group(1) != user:
            return err(401, 20003, "Authenticate")
        key = request.headers.get("I-Twilio-Idempotency-Token", "")
        memo = ("twilio", user, key)
        if key and memo in self._answers:
            self._log("twilio", "201 (repeat)")
            return as_json(self._answers[memo], 201)
        to, sender, text = request.form.get("To", ""), request.form.get("From", ""), request.form.get("Body", "")
        fault = self._fault("twilio", [to])
        self._misbehave(fault, request)
        if fault and fault.kind in TWILIO_FAULTS:
            status, code, message = TWILIO_FAULTS[fault.kind]
            return err(status, int(fault.code or code), message, {"Retry-After": "2"} if status == 429 else None)
        if not E164.match(to):
            return err(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if sender not in self.twilio_from:
            return err(400, 21606, "The 'From' phone number provided is not a valid message-capable number.")
        if not text:
            return err(400, 21602, "Message body is required.")
        answer = {"sid": "SM" + uuid.uuid4().hex, "account_sid": user, "to": to, "from": sender, "body": text,
                  "status": "queued", "num_segments": "1", "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000",
                                                                                         time.gmtime())}
        self._deliver(provider="twilio", to=to, text=text, sender=sender, key=key)
        if key:
            self._answers[memo] = answer
        self._log("twilio", "201")
        self._late(fault)
        return as_json(answer, 201)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def start_simulator(port: int = 0, sim: Simulator | None = None) -> tuple[Simulator, str, Callable[[], None]]:
    """Serve a simulator on 127.0.0.1 in a daemon thread; returns (sim, base_url, stop)."""
    sim = sim or Simulator()
    server = make_server("127.0.0.1", port, sim, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="sms-simulator", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return sim, f"http://127.0.0.1:{server.server_port}", stop

