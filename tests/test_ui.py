"""The page at GET / in a real browser, against a real `edgetts serve` on loopback with the real
voice (`make test-ui`).

The browser is Debian's chromium, driven through Debian's chromedriver by selenium. Debian builds
both from one source package, so their versions always match, and selenium needs nothing
downloaded. Playwright's own browser download is out of reach here, and Playwright against
another Chromium build is not a pairing it promises to drive. Headless, with audio muted:
Web Audio still runs its clock, so playback can be checked (the AudioContext's time advances
and scheduled buffers end).

If the browser cannot start, the tests fail with one line saying what is missing.
"""

import json
import os
import shutil
import time
import urllib.error
import urllib.request

import pytest
from test_server import count_text, spawn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = os.environ.get("EDGETTS_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
DRIVER = os.environ.get("EDGETTS_CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver")
TOKEN = "s3cret-token"


def _bundle():
    path = os.environ.get("EDGETTS_TEST_DEFAULT_BUNDLE") or os.path.join(ROOT, "voices", "default")
    if not os.path.exists(os.path.join(path, "voice.json")):
        pytest.fail("the page tests need the default voice at %s: run `make export`" % path)
    return path


def _serve(tmp_path, *extra):
    """A real `edgetts serve` on a free loopback port (test_server.spawn): (process, base URL)."""
    p, client = spawn(_bundle(), str(tmp_path / "cache"), *extra)
    return p, "http://127.0.0.1:%d" % client.port


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    p, url = _serve(tmp_path_factory.mktemp("ui"))
    yield url
    p.terminate()
    p.wait(timeout=30)


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("ui-token")
    (d / "token").write_text(TOKEN)
    p, url = _serve(d, "--token-file", str(d / "token"))
    yield url
    p.terminate()
    p.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service as DriverService
    except ImportError:
        pytest.fail("the page tests need selenium: pip install selenium (make test-ui installs it)", pytrace=False)
    for path, what in ((CHROMIUM, "chromium"), (DRIVER, "chromedriver")):
        if not os.path.exists(path):
            pytest.fail("the page tests need Debian's %s at %s: apt-get install chromium chromium-driver "
                        "(make test-ui installs them)" % (what, path), pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1200,900"):
        opts.add_argument(arg)
    try:
        driver = webdriver.Chrome(service=DriverService(DRIVER), options=opts)
    except Exception as exc:
        pytest.fail("chromium did not start: %s" % str(exc).strip().splitlines()[0], pytrace=False)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def _state(driver):
    return driver.execute_script("return Object.assign({}, window.edgettsState)")


def _wait(driver, cond, timeout=90, what="the page"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = _state(driver)
        if cond(s):
            return s
        time.sleep(0.1)
    raise AssertionError("%s: timed out; state %s, error %r" % (what, _state(driver), _text(driver, "error")))


def _text(driver, id_):
    return driver.execute_script("return document.getElementById(arguments[0]).textContent", id_)


def _open(driver, url):
    driver.get(url + "/")
    driver.execute_script("sessionStorage.clear()")
    driver.get(url + "/")
    _wait(driver, lambda s: s is not None, what="the page script")


def _say(driver, text):
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "play").click()


def _metric(url, name, **labels):
    with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
        return count_text(r.read().decode(), name, **labels)


def test_page_and_files_come_with_a_strict_policy(server):
    with urllib.request.urlopen(server + "/", timeout=30) as r:
        html = r.read().decode()
        csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in html and 'src="/ui/app.js"' in html  # no inline script
    for f in ("app.js", "app.css"):
        with urllib.request.urlopen(server + "/ui/" + f, timeout=30) as r:
            assert r.status == 200 and r.headers["X-Content-Type-Options"] == "nosniff"


def test_play_streams_audio_and_reaches_the_service(browser, server):
    before = _metric(server, "requests_total", endpoint="/v1/tts", status="200")
    _open(browser, server)
    _say(browser, "今天天气真好，我们一起去公园散步吧。")
    s = _wait(browser, lambda s: s["done"], what="synthesis")
    assert s["chunks"] >= 2 and s["samples"] > 24000 and s["error"] is None
    # Web Audio really plays: the context runs and scheduled buffers end
    assert browser.execute_script("return document.querySelector('#status').textContent").startswith("all ")
    _wait(browser, lambda s: s["played"], timeout=30, what="playback")
    assert _metric(server, "requests_total", endpoint="/v1/tts", status="200") > before
    # the WAV to download holds what was played
    href = browser.execute_script("return document.getElementById('download').getAttribute('href')")
    assert href and href.startswith("blob:")
    assert _state(browser)["wavBytes"] == 44 + 2 * s["samples"]


def test_a_style_and_a_pitch_shift_reach_the_voice(browser, server):
    """The default voice's presets fill the Style list; a slow one (sad, rate 0.85) with a pitch
    shift makes longer audio than the default style, and the service counts both requests."""
    from selenium.webdriver.support.ui import Select

    text = "今天天气真好，我们一起去公园散步吧。"
    _open(browser, server)
    deadline = time.time() + 30  # the voice list arrives after the page script starts
    while browser.execute_script("return document.getElementById('styles-box').hidden"):
        assert time.time() < deadline, "the Style list never appeared"
        time.sleep(0.1)
    names = [o.get_attribute("value") for o in Select(browser.find_element("id", "style")).options]
    assert names[0] == "" and {"neutral", "cheerful", "calm", "sad"} <= set(names)
    _say(browser, text)
    plain = _wait(browser, lambda s: s["done"], what="synthesis")["samples"]
    Select(browser.find_element("id", "style")).select_by_value("sad")
    browser.execute_script("const p = document.getElementById('pitch'); p.value = '-2'; "
                           "p.dispatchEvent(new Event('input'))")
    assert _text(browser, "pitch-value") == "-2 st"
    browser.find_element("id", "play").click()
    sad = _wait(browser, lambda s: s["done"] and s["requests"] == 2, what="styled synthesis")
    assert sad["error"] is None and sad["samples"] > 1.1 * plain


def test_characters_light_up_as_they_are_said(browser, server):
    _open(browser, server)
    _say(browser, "欢迎使用边缘设备上的中文语音合成。")
    s = _wait(browser, lambda s: s["done"] and s["lit"] >= s["marks"] > 0, what="highlighting")
    spans = browser.execute_script(
        "return Array.from(document.querySelectorAll('#karaoke span'), e => e.textContent).join('')")
    assert spans == "欢迎使用边缘设备上的中文语音合成"
    # every character has been lit, in order: the last one lit is the last one said
    classes = browser.execute_script("return Array.from(document.querySelectorAll('#karaoke span'), e => e.className)")
    assert set(classes) <= {"now", "said", ""} and s["lit"] == s["marks"] == len(spans)


def test_bad_ssml_shows_the_service_message(browser, server):
    bad = "<speak>你好<break time='abc'/></speak>"
    _open(browser, server)
    _say(browser, bad)
    _wait(browser, lambda s: s["error"] is not None, what="the error")
    assert browser.execute_script("return document.getElementById('ssml').checked")  # set by <speak
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(urllib.request.Request(
            server + "/v1/tts", data=json.dumps({"text": bad, "ssml": True}).encode(),
            headers={"Content-Type": "application/json"}), timeout=30)
    assert err.value.code == 422
    assert _text(browser, "error") == json.loads(err.value.read())["error"]["message"]


def test_stop_cancels_on_the_server(browser, server):
    before = _metric(server, "cancelled_total")
    _open(browser, server)
    _say(browser, "今天天气很好，我们一起去公园散步吧。" * 20)
    _wait(browser, lambda s: s["chunks"] >= 1, what="first audio")
    browser.find_element("id", "stop").click()
    _wait(browser, lambda s: s["stopped"], what="stop")
    deadline = time.time() + 30
    while _metric(server, "cancelled_total") <= before and time.time() < deadline:
        time.sleep(0.2)
    assert _metric(server, "cancelled_total") > before
    assert not _state(browser)["done"]


def test_text_is_shown_as_text_never_as_html(browser, server):
    _open(browser, server)
    browser.execute_script("window.pwned = false")
    _say(browser, "<img src=x onerror=\"window.pwned=true\">你好")
    _wait(browser, lambda s: s["done"] or s["error"] is not None, what="synthesis")
    time.sleep(0.5)
    assert browser.execute_script("return window.pwned") is False
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0


def test_the_token_is_asked_once_and_kept_for_the_tab(browser, token_server):
    from selenium.webdriver.common.by import By

    _open(browser, token_server)
    assert browser.find_element(By.ID, "token-box").is_displayed()  # /v1/voices said 401
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "token-save").click()
    assert browser.execute_script("return sessionStorage.getItem('edgetts-token')") == TOKEN
    _say(browser, "你好。")
    s = _wait(browser, lambda s: s["done"] or s["error"] is not None, what="synthesis with the token")
    assert s["done"] and s["error"] is None
    browser.get(token_server + "/")  # same tab: no question again
    time.sleep(1)
    assert not browser.find_element(By.ID, "token-box").is_displayed()


def test_no_ui_leaves_the_page_out(tmp_path):
    p, url = _serve(tmp_path, "--no-ui")
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + "/", timeout=30)
        assert err.value.code == 404
    finally:
        p.terminate()
        p.wait(timeout=30)


def test_screenshots_for_the_docs(browser, server):
    """Idle, playing with the highlight, and an error: written where EDGETTS_UI_SCREENSHOTS says
    (make test-ui: build/ui-screenshots; the docs carry a copy)."""
    out = os.environ.get("EDGETTS_UI_SCREENSHOTS")
    if not out:
        pytest.skip("EDGETTS_UI_SCREENSHOTS names no folder")
    os.makedirs(out, exist_ok=True)
    browser.set_window_size(900, 620)
    _open(browser, server)
    shots = [os.path.join(out, "page-idle.png")]
    browser.save_screenshot(shots[-1])
    _say(browser, "欢迎使用边缘设备上的中文语音合成。今天天气真好，我们一起去公园散步吧！")
    _wait(browser, lambda s: s["lit"] >= 12, what="highlighting")
    shots.append(os.path.join(out, "page-playing.png"))
    browser.save_screenshot(shots[-1])
    _wait(browser, lambda s: s["done"], what="synthesis")
    _say(browser, "<speak>你好<break time='abc'/></speak>")
    _wait(browser, lambda s: s["error"] is not None, what="the error")
    shots.append(os.path.join(out, "page-error.png"))
    browser.save_screenshot(shots[-1])
    for path in shots:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
