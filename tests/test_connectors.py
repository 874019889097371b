"""Connector definitions (validated like the rest of the language), presets, auth, error detection, breaker."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from connectors.extension import extension
from connectors.http import Client, ErpError, Masker, check_errors, kingdee_headers
from connectors.pull import find, sync
from connectors.simulator import Erp, Simulator
from connectors.spec import ErrorRule, preset_names
from jig.plugins import default_extensions
from runtime.core import Runtime
from runtime.errors import DefinitionErrors
from runtime.loader import load_apps, load_texts

from .conftest import APPS

SHOP = """\
app: shop
entities:
  kd_order:
    fields:
      erp_no: {type: text, unique: true}
      customer_code: {type: text}
      order_date: {type: date}
      closed: {type: boolean}
  u8_order:
    fields:
      erp_no: {type: text, unique: true}
      customer_code: {type: text}
      order_date: {type: date}
      closed: {type: boolean}
  b1_order:
    fields:
      erp_no: {type: text, unique: true}
      customer_code: {type: text}
      due: {type: date}
      closed: {type: boolean}
connectors:
  kd:
    preset: kingdee_k3cloud
    base_url: ${SIM_URL}
    vars: {acct_id: sim, user: jig, app_id: jig-app, app_secret: "${KINGDEE_APP_SECRET}"}
    sign: {type: kingdee, client_id: c1, client_secret: "${KD_CLIENT_SECRET}", app_id: jig-app,
           app_secret: "${KINGDEE_APP_SECRET}", acct_id: sim, user: jig}
    operations:
      sales_orders:
        entity: kd_order
        key: erp_no
        pagination: {limit: 9}
        fields: {erp_no: FBillNo, customer_code: FCustId.FNumber, order_date: FDate,
                 closed: "FCloseStatus == 'B'"}
  u8:
    preset: yonyou_u8
    base_url: ${SIM_URL}
    vars: {from_account: sim, to_account: sim, app_key: jig-app, app_secret: "${U8_APP_SECRET}"}
    operations:
      sales_orders:
        entity: u8_order
        key: erp_no
        pagination: {limit: 7}
        fields: {erp_no: code, customer_code: cuscode, order_date: date, closed: closed}
  b1:
    preset: sap_b1
    base_url: ${SIM_URL}
    vars: {company_db: sim, user: jig, password: "${B1_PASSWORD}"}
    operations:
      sales_orders:
        entity: b1_order
        key: erp_no
        fields: {erp_no: DocNum, customer_code: CardCode, due: DocDueDate,
                 closed: "DocumentStatus == 'bost_Close'"}
"""


@pytest.fixture
def shop(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Runtime, Simulator]]:
    sim = Simulator(Erp(client_secret="kd-client-secret", seed=3)).start()
    for k, v in {"SIM_URL": sim.url, "KINGDEE_APP_SECRET": "sim-secret", "U8_APP_SECRET": "sim-secret",
                 "B1_PASSWORD": "sim-pass", "KD_CLIENT_SECRET": "kd-client-secret"}.items():
        monkeypatch.setenv(k, v)
    rt = Runtime(load_texts({"shop.yaml": SHOP}, default_extensions()), database_url, extensions=[extension])
    rt.migrate()
    extension.attach(rt)
    for c in ("kd", "u8", "b1"):
        conn = find(rt, c)
        conn.timeout = (1.0, 0.3)
        conn.retry = {"attempts": 8, "backoff": 0.005, "max_backoff": 0.02}
    try:
        yield rt, sim
    finally:
        sim.stop()
        rt.db.dispose()


def _keys(rt: Runtime, entity: str) -> list[str]:
    t = rt.tables.for_entity(rt.entity("shop", entity))
    with rt.db.read() as c:
        return sorted(c.execute(select(t.c.erp_no)).scalars())


def test_three_presets_sync_against_the_simulator(shop: tuple[Runtime, Simulator]) -> None:
    rt, sim = shop
    sim.erp.seed(45)
    sim.erp.change(close=True)
    time.sleep(1.05)  # changes in the current second belong to the next run's window
    sim.erp.set_faults(0.25, ["5xx", "drop", "session", "duplicate"], seed=2)
    expected = sorted(sim.erp.orders)
    for name, entity in (("kd", "kd_order"), ("u8", "u8_order"), ("b1", "b1_order")):
        for _ in range(10):
            r = sync(rt, name)
            if r.status == "ok":
                break
        assert r.status == "ok", (name, r.errors)
        assert _keys(rt, entity) == expected, name
        t = rt.tables.for_entity(rt.entity("shop", entity))
        with rt.db.read() as c:
            assert c.execute(select(t.c.closed).where(t.c.closed.is_(True))).all(), name
    assert sim.erp.stats.get("session", 0) > 0  # re-login happened (Kingdee cookie, U8 token, B1 401)


def test_presets_ship_and_compile() -> None:
    assert preset_names() == ["kingdee_k3cloud", "sap_b1", "yonyou_u8"]
    apps = load_apps([APPS], default_extensions())
    kd = apps["work_order_tracking"].sections["connectors"]["kingdee"]
    assert set(kd.operations) == {"sales_orders", "production_report"}
    assert kd.auth["type"] == "session" and kd.operations["sales_orders"].schedule == "0 2 * * *"
    assert [s.name for s in kd.operations["production_report"].steps] == ["save", "submit", "audit"]


def _errors(text: str) -> list[str]:
    with pytest.raises(DefinitionErrors) as exc:
        load_texts({"bad.yaml": textwrap.dedent(text)}, default_extensions())
    return [f"{e.line}:{e.col} {e.path}: {e.message}" for e in exc.value.errors]


def test_definition_errors_point_at_file_line_col() -> None:
    errs = _errors("""\
        app: shop
        entities:
          order:
            fields:
              erp_no: {type: text}
              qty: {type: decimal}
        connectors:
          erp:
            preset: kingdee_k3cloud
            base_url: http://erp
            vars: {acct_id: a, user: u, app_id: i, app_secret: plain-text-secret}
            operations:
              sales_orders:
                entity: order
                schedule: "every night"
                key: erp_no
                fields:
                  erp_no: FBillNo
                  qty: "FQty +"
                  nope: FQty
          other:
            preset: kingdee_k3clod
          third:
            base_url: http://x
            operations:
              pull_it:
                type: pull
                entity: ordr
        """)
    text = "\n".join(errs)
    assert "11:52 vars.app_secret" not in text  # positions are those of the user's file:
    assert any(e.startswith("11:") and "secrets must be environment references" in e for e in errs), text
    assert any(e.startswith("15:") and "not a valid cron schedule" in e for e in errs), text
    assert any(e.startswith("16:") and "must be declared unique" in e for e in errs), text
    assert any(e.startswith("19:") and "qty" in e for e in errs), text
    assert any(e.startswith("20:") and "'nope' is not a stored field" in e for e in errs), text
    assert any(e.startswith("22:") and "unknown preset 'kingdee_k3clod'" in e for e in errs), text
    assert any(e.startswith("28:") and "unknown entity 'ordr'" in e for e in errs), text


def test_error_detection_in_http_200_answers() -> None:
    rules = [ErrorRule(text="会话信息已丢失", session_lost=True),
             ErrorRule(find="ResponseStatus", failed_if={"ResponseStatus.IsSuccess": False},
                       message="ResponseStatus.Errors.0.Message")]
    nested = [[{"Result": {"ResponseStatus": {"ErrorCode": 500, "IsSuccess": False,
                                              "Errors": [{"Message": "元数据中标识为X的字段不存在"}], "MsgCode": 9}}}]]
    err = check_errors(rules, 200, "[[...]]", nested)
    assert err is not None and err.message == "元数据中标识为X的字段不存在" and not err.session_lost
    lost = check_errors(rules, 200, '{"Message": "会话信息已丢失，请重新登录"}', {})
    assert lost is not None and lost.session_lost
    assert check_errors(rules, 200, "[[1, 2]]", [["SO1", 2]]) is None
    ok = {"Result": {"ResponseStatus": {"IsSuccess": True, "Errors": []}, "Number": "X"}}
    assert check_errors(rules, 200, "{}", ok) is None


def test_masking_and_kingdee_signature() -> None:
    m = Masker({"s3cr3t-value"})
    assert m.url("http://h/api?token=abc&page=2&x=s3cr3t-value") == "http://h/api?token=***&page=2&x=***"
    assert m.value({"password": "p", "body": "has s3cr3t-value inside", "n": 1}) == \
        {"password": "***", "body": "has *** inside", "n": 1}
    h = kingdee_headers("/K3Cloud/x.kdsvc", {"client_id": "c", "client_secret": "k", "app_id": "a",
                                             "app_secret": "s", "acct_id": "1", "user": "u", "lcid": "2052"},
                        now=1700000000, nonce="n1")
    assert h["x-api-timestamp"] == "1700000000" and h["X-Api-Auth-Version"] == "2.0"
    assert h["X-Api-Signature"] == kingdee_headers("/K3Cloud/x.kdsvc", {"client_secret": "k"}, now=1700000000,
                                                   nonce="n1")["X-Api-Signature"]


def test_circuit_breaker_pauses_and_alerts_admins(shop: tuple[Runtime, Simulator]) -> None:
    rt, sim = shop
    rt.users.add("admin", "secret-pass", ["admin"])
    sim.erp.seed(5)
    sim.erp.set_faults(1.0, ["5xx"])
    conn = find(rt, "u8")
    conn.retry = {"attempts": 2, "backoff": 0.001, "max_backoff": 0.001}
    conn.circuit = {"failures": 2, "pause": 600}
    assert sync(rt, "u8").status == "failed"
    assert rt.notifications.unread_count("admin") == 1  # the failed sync
    assert sync(rt, "u8").status == "failed"
    before = sim.erp.stats["requests"]
    r = sync(rt, "u8")
    assert r.status == "failed" and "paused" in r.errors[0]
    assert sim.erp.stats["requests"] == before  # no request while the circuit is open
    titles = [n["title"] for n in rt.notifications.latest("admin")]
    assert any("ERP 连接已暂停" in t for t in titles)


def test_wrong_secret_is_a_permanent_failure(shop: tuple[Runtime, Simulator], monkeypatch: pytest.MonkeyPatch) -> None:
    rt, sim = shop
    monkeypatch.setenv("U8_APP_SECRET", "wrong")
    client = Client(rt, find(rt, "u8"))
    with pytest.raises(ErpError) as exc:
        client.call(find(rt, "u8").operations["sales_orders"].request, {"page": 1, "limit": 5},
                    operation="sales_orders")
    assert not exc.value.transient and sim.erp.stats["requests"] == 1
    t = rt.tables.system["jig_connector_requests"]
    with rt.db.read() as c:
        assert "wrong" not in repr(c.execute(select(t)).all())
