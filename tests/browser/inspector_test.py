#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The inspector's page in a real browser (headless Chromium driven by Selenium), against a real
`vaultfwd serve` and a real `vaultfwd ditto` echo upstream on loopback ports chosen by the kernel.

Shows: a request through each dialect (Footprint, Gr4vy, VTEX, the VGS forward proxy, the VGS
inbound port) appears on the page within a second; the detail view of each masks every value
(the whole DOM and every network response the page received, server-sent events included, are
searched for the plaintext values); a route made on the page from a captured forward-proxy
request and added to the profile reveals the alias on the next request after serve restarts;
the HAR export replays with `vaultfwd replay`. Optionally saves a screenshot (--screenshot).

Run by tests/integration/test_inspector.cpp; exits non-zero with the reason on failure."""

import argparse
import atexit
import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CARD = "4000056655665556"
SSN = "078051120"
NAME = "Zaphod Quux"
CSC = "5309"
COLLECT_CARD = "5200828282828210"
FP = "fp_id_test_inspector"
# Every form a value could be shown in: raw, JSON with \u escapes is covered by raw for ASCII.
SECRETS = {"card": CARD, "ssn": SSN, "holder name": NAME, "collected card": COLLECT_CARD}


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def forms(value):
    yield value
    yield urllib.parse.quote(value)
    yield urllib.parse.quote_plus(value)
    yield base64.b64encode(value.encode()).decode()


def scan(what, text):
    for label, value in SECRETS.items():
        for form in forms(value):
            if form in text:
                fail(f"{what} holds the {label} in clear")


class Vaultfwd:
    def __init__(self, binary, home):
        self.binary, self.home = binary, home

    def run(self, *args, stdin=None):
        r = subprocess.run([self.binary, "--home", self.home, *args], input=stdin, capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            fail(f"vaultfwd {args[0]} exited {r.returncode}: {r.stderr}")
        return r.stdout

    def start(self, *args):
        return subprocess.Popen([self.binary, "--home", self.home, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)


def read_lines(proc, wanted, timeout=20):
    """Reads the process's stdout until every regex in `wanted` matched; returns their groups."""
    found, deadline = {}, time.time() + timeout
    while len(found) < len(wanted):
        if time.time() > deadline:
            fail(f"no {set(wanted) - set(found)} in the output of {proc.args[3:5]}")
        line = proc.stdout.readline()
        if not line:
            fail(f"{proc.args[3:5]} ended early")
        for key, rx in wanted.items():
            m = re.search(rx, line)
            if m:
                found[key] = m.group(1)
    return found


class Serve:
    def __init__(self, vf):
        self.proc = vf.start("serve", "--api-listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0",
                             "--inbound-listen", "127.0.0.1:0")
        got = read_lines(self.proc, {"api": r"api listening on (http://\S+)",
                                     "proxy": r"proxy listening on http://(\S+)",
                                     "inbound": r"inbound listening on http://(\S+)",
                                     "inspector": r"inspector (http://\S+)"})
        self.api, self.proxy, self.inbound, self.inspector = got["api"], got["proxy"], got["inbound"], got["inspector"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1600,1000", "--no-proxy-server", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def network_texts(driver):
    """Every response body the page received and every server-sent event, from DevTools' log."""
    texts = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Network.eventSourceMessageReceived":
            texts.append(("event " + params.get("eventName", ""), params.get("data", "")))
        elif method == "Network.loadingFinished":
            try:
                body = driver.execute_cdp_cmd("Network.getResponseBody", {"requestId": params["requestId"]})
            except Exception:  # an event stream or a body already gone: its events are above
                continue
            text = body.get("body", "")
            if body.get("base64Encoded"):
                text = base64.b64decode(text).decode("utf-8", "replace")
            texts.append(("response " + params["requestId"], text))
    return texts


def wait_row(driver, path_part, since, what, after=0):
    """Waits for a row (id > after) whose host-and-path cell holds `path_part`; returns its id and
    the delay since `since`."""
    deadline = since + 5
    find = ("for (const tr of document.querySelectorAll('#rows tr')) {"
            "  const c = tr.children; if (c.length > 5 && Number(tr.dataset.id) > arguments[1] &&"
            "      c[5].textContent.includes(arguments[0])) return Number(tr.dataset.id); }"
            "return 0;")
    while time.time() < deadline:
        row_id = driver.execute_script(find, path_part, after)
        if row_id:
            return row_id, time.time() - since
        time.sleep(0.01)
    fail(f"the {what} exchange ({path_part}) did not show up on the page within 5 s")


def open_detail(driver, row_id):
    """Opens an exchange's detail view as a click on its row does; returns the view's text."""
    driver.execute_script("document.querySelector(`#rows tr[data-id=\"${arguments[0]}\"]`).click();", row_id)
    WebDriverWait(driver, 5).until(lambda d: d.execute_script(
        "const h = document.querySelector('#detail h2'); return h && h.textContent.startsWith(arguments[0]);",
        f"#{row_id} "))
    return driver.execute_script("return document.getElementById('detail').innerText;")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vaultfwd", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--screenshot")
    args = ap.parse_args()
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(name, None)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = ""
    home = os.path.join(args.work, "home")
    vf = Vaultfwd(args.vaultfwd, home)
    vf.run("init")
    ditto = subprocess.Popen([args.vaultfwd, "--home", home, "ditto", "--format", "json"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    atexit.register(ditto.terminate)  # a failure exits early: no echo server is left behind
    got = read_lines(ditto, {"http": r"listening on http://(127\.0\.0\.1:\d+)",
                             "https": r"listening on https://(127\.0\.0\.1:\d+)"})
    echo, echo_tls = "http://" + got["http"], "https://" + got["https"]
    local_ca = os.path.join(home, "default", "ca.pem")
    profile_file = os.path.join(home, "default.toml")
    with open(profile_file) as f:
        profile = f.read()
    api_key = re.search(r'key = "(sk_test_[^"]+)"', profile).group(1)
    proxy_user = re.search(r'username = "([^"]+)"', profile).group(1)
    proxy_pass = re.search(r'password = "([^"]+)"', profile).group(1)
    echo_port = echo.rsplit(":", 1)[1]
    # ditto's HTTPS certificate comes from the local CA: serve trusts it upstream.
    profile = re.sub(r"(?m)^(allow_http = .*)$", r'\1\nca_files = ["default/ca.pem"]', profile, count=1)
    profile += f"""
# The inspector, on for this test.
[inspector]
enabled = true
exchanges = 100

# The collect flow: a form posted to the inbound port, its card number redacted on the way in.
[[routes]]
id = "collect"
direction = "inbound"
upstream = "http://127.0.0.1:{echo_port}"
host = 'collect\\.inspector\\.test'

[[routes.filters]]
phase = "request"
operation = "redact"
transformer = "form_field"
targets = ["card_number"]
"""
    with open(profile_file, "w") as f:
        f.write(profile)
    vf.run("config", "check")
    vf.run("vault", "put", FP, "custom.card=" + CARD, "custom.ssn=" + SSN, "card.primary.name=" + NAME)
    vf.run("vault", "put", "pm_inspector", "card.number=" + CARD, "card.exp_month=03", "card.exp_year=2030")
    alias = vf.run("vault", "alias", CARD, "--format", "UUID").strip()

    serve = Serve(vf)
    driver = browser()
    driver.execute_cdp_cmd("Network.enable", {})
    try:
        driver.get(serve.inspector)
        WebDriverWait(driver, 10).until(lambda d: "live" in d.find_element(By.ID, "live").text)
        session = requests.Session()
        session.auth = (api_key, "")
        proxies = {"http": f"http://{proxy_user}:{proxy_pass}@{serve.proxy}"}

        r = session.post(serve.api + "/vault_proxy/jit",
                         data=json.dumps({"card": "{{ %s.custom.card }}" % FP, "name": "{{ %s.card.primary.name }}" % FP,
                                          "ssn": "{{ %s.custom.ssn | to_uppercase }}" % FP}),
                         headers={"x-fp-proxy-target-url": echo + "/footprint/charge",
                                  "x-fp-proxy-fwd-content-type": "application/json"})
        if r.status_code != 200 or CARD not in r.text:
            fail(f"footprint jit answered {r.status_code}: the echo should hold the revealed card")
        rows = {}

        def shows_up(dialect, path, since):
            row_id, delay = wait_row(driver, path, since, dialect, max(rows.values(), default=0))
            print(f"{dialect}: on the page {delay * 1000:.0f} ms after its answer", flush=True)
            if delay > 1.0:
                fail(f"the {dialect} exchange took {delay:.2f} s to show up (more than a second)")
            rows[dialect] = row_id

        shows_up("footprint", "/vault_proxy/jit", time.time())
        r = session.post(serve.api + "/vault-forward", data='{"number":"{{ CARD_NUMBER_1 }}"}',
                         headers={"x-vault-forward-url": echo + "/gr4vy/pay", "x-vault-forward-http-method": "POST",
                                  "x-vault-forward-payment-methods": "pm_inspector", "content-type": "application/json"})
        if r.status_code != 200 or CARD not in r.text:
            fail(f"gr4vy answered {r.status_code}")
        shows_up("gr4vy", "/vault-forward", time.time())
        payment = json.loads(vf.run("vtex", "payment", "--number", CARD, "--holder", NAME, "--csc", CSC,
                                    "--exp-month", "03", "--exp-year", "2030", "--api-base", serve.api))
        proxy_url = payment["secureProxyUrl"]
        r = session.post(proxy_url, data=json.dumps({"Number": payment["card"]["numberToken"],
                                                     "Holder": payment["card"]["holderToken"]}),
                         headers={"X-PROVIDER-Forward-To": echo + "/vtex/sales", "content-type": "application/json"})
        if r.status_code != 200 or CARD not in r.text:
            fail(f"vtex answered {r.status_code}")
        shows_up("vtex", "/proxy", time.time())
        r = requests.post(echo + "/vgs/charge", json={"card": {"number": alias}}, proxies=proxies, timeout=20)
        if r.status_code != 200 or alias not in r.text:
            fail(f"the forward proxy answered {r.status_code}: with no route yet the alias passes as it is")
        shows_up("vgs", "/vgs/charge", time.time())
        # HTTPS through the forward proxy: CONNECT, TLS inside the tunnel with the local CA.
        r = requests.post(echo_tls + "/vgs/tunnel", json={"card": {"number": alias}},
                          proxies={"https": proxies["http"]}, verify=local_ca, timeout=20)
        if r.status_code != 200 or alias not in r.text:
            fail(f"the forward proxy answered {r.status_code} through a CONNECT tunnel: {r.text}")
        shows_up("vgs-tunnel", "/vgs/tunnel", time.time())
        r = requests.post("http://" + serve.inbound + "/collect", data={"card_number": COLLECT_CARD, "name": "x"},
                          headers={"Host": "collect.inspector.test"}, timeout=20)
        if r.status_code != 200 or COLLECT_CARD in r.text:
            fail(f"the inbound port answered {r.status_code}: the upstream should see an alias")
        shows_up("inbound", "/collect", time.time())

        # The table's filters: dialect, status class, part of the host.
        def shown_after(control, value):
            return driver.execute_script(
                "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
                "e.dispatchEvent(new Event('input'));"
                "return [...document.querySelectorAll('#rows tr')].map(tr => [...tr.children].map(td => td.textContent));",
                control, value)
        only = shown_after("f-dialect", "gr4vy")
        if not only or any(row[3] != "gr4vy" for row in only):
            fail(f"the dialect filter shows {[row[3] for row in only]}")
        shown_after("f-dialect", "")
        only = shown_after("f-status", "4xx")
        if any(not row[9].startswith("4") for row in only):
            fail("the status filter shows rows that are not 4xx")
        shown_after("f-status", "")
        tls_host = echo_tls.split("//")[1]  # only the tunnel (its CONNECT and its request) went there
        only = shown_after("f-host", tls_host)
        if (not any(row[5].endswith("/vgs/tunnel") for row in only) or
                any(not row[5].startswith(tls_host) or row[2] != "proxy" for row in only)):
            fail(f"the host filter shows {only}")
        everything = shown_after("f-host", "")
        if len(everything) < 6:
            fail(f"with no filter the table shows {len(everything)} rows")

        # Bad requests to the inspector's API: clear JSON errors, and serve keeps serving.
        base = serve.api + "/_inspector/api/"
        for method, path, auth, status, code in [
                ("GET", "exchanges", None, 401, "inspector.unauthorized"),
                ("GET", "exchanges", ("sk_test_wrong", ""), 401, "inspector.unauthorized"),
                ("GET", "exchanges/12x", (api_key, ""), 400, "inspector.bad_id"),
                ("GET", "exchanges/999999", (api_key, ""), 404, "inspector.unknown_exchange"),
                ("GET", "exchanges?status=teapot", (api_key, ""), 400, "inspector.bad_filter"),
                ("POST", f"exchanges/{rows['vgs']}/route", (api_key, ""), 400, "inspector.bad_route_request"),
                ("DELETE", "har", (api_key, ""), 405, "request.method_not_allowed"),
                ("GET", "nothing", (api_key, ""), 404, "inspector.not_found")]:
            bad = requests.request(method, base + path, auth=auth, data="{not json", timeout=10)
            got = bad.json().get("error", {}).get("code") if bad.headers.get("content-type") == "application/json" else None
            if bad.status_code != status or got != code:
                fail(f"{method} {path} answered {bad.status_code} {got}, not {status} {code}")
        if session.get(serve.api + "/healthz").status_code != 200:
            fail("serve stopped answering after bad requests to the inspector")
        # Each detail view: masked, with the tokens and aliases named.
        for dialect, row_id in rows.items():
            text = open_detail(driver, row_id)
            scan(f"the detail view of the {dialect} exchange", text)
            if dialect in ("footprint", "gr4vy", "vtex") and "values shown as" not in text:
                fail(f"the {dialect} detail view names no token standing for a value")
        footprint_detail = open_detail(driver, rows["footprint"])
        if "{{ %s.custom.card }}" % FP not in footprint_detail:
            fail("the footprint detail view does not show the upstream's request with the token in place")
        if args.screenshot:
            driver.execute_async_script("drawChart().then(arguments[0]);")
            driver.save_screenshot(args.screenshot)
        # HAR export, through the page's own fetch.
        har = driver.execute_async_script(
            "const done = arguments[0];"
            "fetch('api/har', {headers: {Authorization: 'Bearer ' + new URLSearchParams(location.search).get('token')}})"
            ".then(r => r.text()).then(done);")
        scan("the HAR export", har)
        har_file = os.path.join(args.work, "inspector.har")
        with open(har_file, "w") as f:
            f.write(har)
        replayed = subprocess.run([args.vaultfwd, "--home", home, "replay", "--via", "ditto", har_file],
                                  capture_output=True, text=True, timeout=120)
        if replayed.returncode != 0:
            fail(f"vaultfwd replay of the HAR export exited {replayed.returncode}: {replayed.stdout} {replayed.stderr}")
        print("HAR export replayed: " + replayed.stdout.strip().splitlines()[-1], flush=True)

        # A route from the forward-proxy exchange: reveal $.card.number in the request.
        open_detail(driver, rows["vgs"])
        driver.find_element(By.CSS_SELECTOR, '#rm-fields input[value="$.card.number"]').click()
        driver.find_element(By.ID, "rm-id").send_keys("reveal-card")
        driver.find_element(By.ID, "rm-add").click()
        WebDriverWait(driver, 5).until(lambda d: "Added to" in d.find_element(By.ID, "rm-status").text)
        toml_text = driver.find_element(By.ID, "rm-toml").text
        if not re.search(r"""id = ['"]reveal-card['"]""", toml_text) or "$.card.number" not in toml_text:
            fail("the route maker's TOML is not the route asked for: " + toml_text)
        with open(profile_file) as f:
            if "# The inspector, on for this test." not in f.read():
                fail("adding the route lost the profile's comments")
        vf.run("config", "check")
        # Re-send from the page: the exchange goes through serve again.
        open_detail(driver, rows["gr4vy"])
        driver.find_element(By.ID, "resend").click()
        WebDriverWait(driver, 10).until(lambda d: "re-sent: status 200" in d.find_element(By.ID, "detail").text)
        # Re-sends through the forward proxy and the inbound port (their requests as shown: the
        # collect form's card is its alias now, which the route leaves as it is).
        for dialect in ("vgs", "vgs-tunnel", "inbound"):
            again = session.post(f"{serve.api}/_inspector/api/exchanges/{rows[dialect]}/resend", timeout=20)
            body = again.json()
            if again.status_code != 200 or body.get("status") != 200 or not body.get("id"):
                fail(f"the re-send of the {dialect} exchange answered {again.status_code} {body}")
            fresh = session.get(f"{serve.api}/_inspector/api/exchanges/{body['id']}", timeout=10).json()
            if fresh["listener"] != ("inbound" if dialect == "inbound" else "proxy") or fresh["status"] != 200:
                fail(f"the re-sent {dialect} exchange is not recorded as it went: {fresh['listener']} {fresh['status']}")
            scan(f"the re-sent {dialect} exchange", json.dumps(fresh))
        scan("the whole page", driver.page_source)
        for what, text in network_texts(driver):
            scan(f"a network {what} the page received", text)
    finally:
        driver.quit()
        serve.stop()

    # The route is loaded at serve's start: restart, and the next request has its alias revealed.
    serve = Serve(vf)
    driver = browser()
    try:
        proxies = {"http": f"http://{proxy_user}:{proxy_pass}@{serve.proxy}"}
        r = requests.post(echo + "/vgs/charge", json={"card": {"number": alias}}, proxies=proxies, timeout=20)
        if r.status_code != 200 or CARD not in r.text:
            fail(f"after the restart the route did not reveal the alias (status {r.status_code})")
        print("route made on the page revealed the alias after serve's restart", flush=True)
        driver.get(serve.inspector)
        row_id, _ = wait_row(driver, "/vgs/charge", time.time(), "revealed vgs")
        text = open_detail(driver, row_id)
        if alias not in text or "reveal-card" not in text:
            fail("the revealed exchange's detail view does not show the alias and the route")
        if 'route "reveal-card" filter 1: request reveal json_path $.card.number' not in text:
            fail("the revealed exchange's detail view does not name the filter that revealed the alias: " + text)
        scan("the detail view of the revealed exchange", text)
        scan("the whole page after the restart", driver.page_source)
        for what, body in network_texts(driver):
            scan(f"a network {what} the page received after the restart", body)
    finally:
        driver.quit()
        serve.stop()
        ditto.terminate()
    print("ok", flush=True)


if __name__ == "__main__":
    main()
