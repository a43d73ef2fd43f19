#!/usr/bin/env python3
"""The dashboard in a real browser (headless Chromium driven by Selenium), for
tests/netns/dashboard.sh: run in node 1's network namespace against its grapped.

dashboard_browser.py URL SCREENSHOT KILL_PID TOKEN JOB
  1. the cluster map lists node1, node2 and node3 (cards on the page, filled by the live stream),
     and the jobs list has JOB, a job of node 2 (the page asks node 2's own dashboard);
  2. the load plot gains points;
  3. an action without a session is refused (the page's own fetch, from its origin);
  4. node3's daemon (KILL_PID) is killed: its card turns dead within 20 s;
  5. the screenshot of the cluster map is saved to SCREENSHOT;
  6. the one-time link (URL#token=TOKEN) gives the page a session: it says it acts as root, and
     its "block" button blocks the node (the caller checks with grappe node show);
  7. on a phone-sized window (390 px) the page is no wider than the screen.
Exits non-zero with the reason when a step fails.
"""
import os
import signal
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

URL, SHOT, KILL_PID, TOKEN, JOB = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]


def wait(what, cond, seconds=20):
    t0 = time.time()
    while time.time() - t0 < seconds:
        try:
            v = cond()
            if v:
                return v
        except Exception:  # the page is between two renders
            pass
        time.sleep(0.2)
    sys.exit("browser: %s not within %d s" % (what, seconds))


def cards(d):
    return {c.get_attribute("data-node"): c.get_attribute("class") for c in d.find_elements(By.CSS_SELECTOR, "#map .node")}


profile = tempfile.mkdtemp(prefix="grappe-chromium-")
opts = Options()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,900",
          "--user-data-dir=" + profile, "--no-first-run", "--disable-extensions"):
    opts.add_argument(a)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
try:
    driver.set_script_timeout(15)
    driver.get(URL)
    wait("node1, node2 and node3 on the cluster map", lambda: {"node1", "node2", "node3"} <= set(cards(driver)))
    print("ok: the browser's cluster map lists node1, node2 and node3")
    wait("node 2's job %s in node 1's jobs list" % JOB,
         lambda: JOB in [r.get_attribute("data-job") for r in driver.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")])
    print("ok: node 2's job %s is listed on node 1's page" % JOB)
    p0 = int(wait("a load plot", lambda: driver.find_element(By.ID, "history").get_attribute("data-points")))
    p1 = int(wait("the load plot gaining points", lambda: int(driver.find_element(By.ID, "history").get_attribute("data-points")) >= p0 + 3
                  and driver.find_element(By.ID, "history").get_attribute("data-points")))
    print("ok: the load plot went from %d to %d points" % (p0, p1))
    status = driver.execute_async_script(
        "fetch('/api/action', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({action: 'block'})})"
        ".then(r => arguments[0](r.status), e => arguments[0](String(e)))")
    if status != 403:
        sys.exit("browser: an action without a session got %r, not 403" % status)
    print("ok: an action from the page without a session is refused (403)")
    os.kill(KILL_PID, signal.SIGKILL)
    t0 = time.time()
    wait("node3's card turning dead", lambda: "dead" in (cards(driver).get("node3") or "").split(), 20)
    print("ok: node3 killed: its card turned dead after %.1f s" % (time.time() - t0))
    driver.find_element(By.ID, "map").screenshot(SHOT)
    print("ok: the cluster map's screenshot is in %s" % SHOT)
    driver.get(URL + "#token=" + TOKEN)
    wait("the session", lambda: driver.find_element(By.ID, "session").text == "acting as root")
    if "token" in driver.current_url:
        sys.exit("browser: the token stayed in the address bar: " + driver.current_url)
    wait("the node actions", lambda: driver.find_element(By.ID, "node-actions").is_displayed())
    driver.find_element(By.CSS_SELECTOR, "#node-actions button[data-act=block]").click()
    time.sleep(1)
    err = driver.find_element(By.ID, "error").text
    if err:
        sys.exit("browser: block from the page failed: " + err)
    print("ok: the one-time link gives the page a session (acting as root); its block button was clicked")
    driver.set_window_size(390, 844)  # a phone's screen: nothing wider than it but the jobs table's own scroller
    time.sleep(1)
    wide = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    if wide[0] > wide[1] + 1:
        sys.exit("browser: the page is %d px wide on a %d px screen" % tuple(wide))
    print("ok: on a phone-sized screen (%d px) the page is no wider than the screen" % wide[1])
finally:
    driver.quit()
