"""The studio in a real browser: Playwright drives Chromium (Debian's chromium-headless-shell; set
DREAMVID_CHROMIUM to another binary). Skipped, saying why, without Playwright or a Chromium. Set
DREAMVID_STUDIO_SCREENSHOTS=docs to write the page's screenshots there (README's pictures)."""

from __future__ import annotations

import os
from pathlib import Path
import shutil

import pytest

pytest.importorskip("starlette", reason="the studio extra is not installed: pip install '.[studio]'")
playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (the test extra)")

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "chelsea.jpg"
SCREENSHOTS = os.environ.get("DREAMVID_STUDIO_SCREENSHOTS")
STILL_SIDE, ZOOM_SIDE = (320, 256) if SCREENSHOTS else (160, 96)  # pictures for the docs; tiny for the tests
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    given = os.environ.get("DREAMVID_CHROMIUM")
    return given or next((found for name in BROWSERS if (found := shutil.which(name))), None)


@pytest.fixture
def page(tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium found (apt-get install chromium-headless-shell, or set DREAMVID_CHROMIUM)")
    from dreamvid.studio.server import ServerThread

    with ServerThread(tmp_path / "work") as url, playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.goto(url)  # the printed address: its token becomes the session's cookie
        page.wait_for_selector("body[data-ready=true]")
        assert "token" not in page.url
        yield page
        browser.close()


def screenshot(page, tmp_path: Path, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if SCREENSHOTS:  # JPEG: a tenth of the PNG's size in the repository
        from PIL import Image

        Image.open(path).convert("RGB").save(Path(SCREENSHOTS) / name.replace(".png", ".jpg"), quality=85)


def set_knobs(page, **values) -> None:
    for name, value in values.items():
        page.fill(f"#knobs input[name={name}]", str(value))


def progress_is(page, text: str, timeout_s: float) -> None:
    page.wait_for_function(f"document.querySelector('#progress-text').textContent.startsWith({text!r})",
                           timeout=timeout_s * 1000)


def test_upload_dream_cancel_render_download(page, tmp_path):
    # 1. upload a sample through the file input (the drop zone's own input)
    page.set_input_files("#file", str(SAMPLE))
    page.wait_for_function("document.querySelector('#input-name').textContent.includes('picture (451x300)')")
    # 2. dream a small still and see the preview change (every new picture shown is recorded)
    page.evaluate("""() => { window.shown = []; new MutationObserver(() => window.shown.push(
        document.querySelector('#preview').src)).observe(document.querySelector('#preview'), {attributes: true}); }""")
    set_knobs(page, size=STILL_SIDE, iterations=4, octaves=2)
    page.click("#dream")
    progress_is(page, "done", 120)
    shown = page.evaluate("window.shown")
    octaves = [src for src in shown if src.startswith("data:image/jpeg")]
    assert len(octaves) == 2, shown  # the dream as it grew, once per octave, before the finished picture
    assert "/result" in shown[-1]
    page.wait_for_function(f"document.querySelector('#preview').naturalWidth === {STILL_SIDE}", timeout=10_000)
    assert f"--size {STILL_SIDE}" in page.text_content("#command")
    page.wait_for_function("Array.from(document.querySelectorAll('#atlas img')).every(img => img.naturalWidth > 0)",
                           timeout=120_000)  # every layer's thumbnail dreamed (background work) and shown
    screenshot(page, tmp_path, "studio_still.png")
    # 3. a long dream, cancelled while it runs
    set_knobs(page, iterations=200)
    page.click("#dream")
    page.wait_for_function("/\\d+ \\/ \\d+ steps/.test(document.querySelector('#progress-text').textContent)",
                           timeout=120_000)
    page.click("#cancel")
    progress_is(page, "cancelled", 30)
    # 4. a 12-frame zoom, rendered, played in the page and downloaded
    page.check("input[name=mode][value=zoom]")
    page.wait_for_selector("#knobs input[name=frames]", state="visible")
    presets = page.eval_on_selector_all("#preset option", "options => options.map(option => option.value)")
    assert "tunnel" in presets and "eyes" in presets and "video-subtle" not in presets  # this mode's only
    assert page.eval_on_selector("#model", "select => select.value") == "efficientnet_lite0"
    set_knobs(page, frames=12, size=ZOOM_SIDE, iterations=2, octaves=1)
    page.click("#render")
    progress_is(page, "done", 300)
    assert page.get_attribute("#preview", "data-frame") == "11"  # frames shown as they were written, up to the last
    page.wait_for_function("document.querySelector('#result-video').readyState >= 1", timeout=30_000)
    assert abs(page.evaluate("document.querySelector('#result-video').duration") - 12 / 30) < 0.05
    screenshot(page, tmp_path, "studio_zoom.png")
    with page.expect_download() as download_info:
        page.click("#download")
    download = download_info.value
    assert download.suggested_filename == "chelsea_zoom.mp4"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    from dreamvid.media.reader import read_frames

    frames = list(read_frames(str(saved)))
    assert len(frames) == 12 and frames[0].shape[1] == ZOOM_SIDE


def test_each_tab_has_its_own_id(page):
    with page.expect_popup() as opened:
        page.evaluate("window.open(location.href)")
    other = opened.value
    other.wait_for_selector("body[data-ready=true]")
    assert page.evaluate("client") != other.evaluate("client")


ATTACK = """<!doctype html><html><body>
<iframe name="sink"></iframe>
<form id="form" method="post" enctype="text/plain" target="sink" action="STUDIO/api/jobs">
<input name='{"client": "evil", "mode": "image", "action": "render", "input": {"source": "sample", "name": "chelsea.jpg"}, "x": "' value='"}'>
</form>
<form id="upload" method="post" enctype="multipart/form-data" target="sink" action="STUDIO/api/uploads?name=x.jpg">
<input name="file" value="not a picture"></form>
<script>
window.done = [];
document.querySelector("iframe").addEventListener("load", () => window.done.push("form"));
const job = '{"client": "evil", "mode": "image", "action": "render", "input": {"source": "sample", "name": "chelsea.jpg"}}';
fetch("STUDIO/api/jobs", {method: "POST", mode: "no-cors", credentials: "include", body: job,
                         headers: {"Content-Type": "text/plain"}}).finally(() => window.done.push("fetch"));
fetch("STUDIO/api/uploads?name=x.jpg", {method: "POST", mode: "no-cors", credentials: "include",
                                        body: "GIF89a"}).finally(() => window.done.push("upload"));
const img = new Image();
img.onerror = img.onload = () => window.done.push("img");
img.src = "STUDIO/api/atlas?model=efficientnet_lite0";
document.querySelector("#form").submit();
</script></body></html>"""


def test_a_page_from_another_local_port_cannot_use_the_studio(tmp_path, monkeypatch):
    """The attacker: a page on another port of 127.0.0.1 (same-site, not same-origin) in a browser that holds
    the studio's cookie tries a form post, a no-cors fetch, an upload and an <img>; nothing new is stored."""
    import http.server
    import threading

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium found (apt-get install chromium-headless-shell, or set DREAMVID_CHROMIUM)")
    from dreamvid.studio import guard
    from dreamvid.studio.server import ServerThread

    refused, refuse = [], guard.refuse

    async def recorded(send, status: int, line: str) -> None:
        refused.append(line)
        await refuse(send, status, line)

    monkeypatch.setattr(guard, "refuse", recorded)
    server = ServerThread(tmp_path / "work")
    with server as url, playwright_api.sync_playwright() as playwright:
        site = tmp_path / "attacker"
        site.mkdir()
        (site / "index.html").write_text(ATTACK.replace("STUDIO", server.origin))
        handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(site))  # noqa: E731
        attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=attacker.serve_forever, daemon=True).start()
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context()
        assert context.request.get(url, max_redirects=0).status == 303  # the user's session: the cookie is set
        assert any(cookie["name"].startswith("dreamvid-studio-") for cookie in context.cookies())
        before = sorted(path for path in (tmp_path / "work").rglob("*"))
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{attacker.server_address[1]}/index.html")
        page.wait_for_function("['form', 'fetch', 'upload', 'img'].every(name => window.done.includes(name))",
                               timeout=30_000)
        page.wait_for_timeout(500)
        assert sorted(path for path in (tmp_path / "work").rglob("*")) == before
        assert server.app.state.studio.jobs == {} and server.app.state.studio.uploads == {}
        assert server.app.state.studio.thumbnails == {}
        assert len(refused) == 4, refused  # the requests reached the studio, and the guard refused each
        browser.close()
        attacker.shutdown()


def test_the_loop_switch_reaches_the_job_and_the_result_plays_on_repeat(page):
    page.click("#samples img[data-name='chelsea.jpg']")
    page.check("input[name=mode][value=zoom]")
    page.wait_for_selector("#knobs input[name=loop]", state="visible")
    set_knobs(page, frames=6, fps=12, size=64, iterations=1, octaves=1)
    page.check("#knobs input[name=loop]")
    page.click("#render")
    progress_is(page, "done", 300)
    assert "--loop" in page.text_content("#command").split()
    assert "loop = true" in page.text_content("#toml")
    page.wait_for_function("document.querySelector('#result-video').readyState >= 1", timeout=30_000)
    assert page.evaluate("document.querySelector('#result-video').loop")
    page.evaluate("""() => { window.times = []; const video = document.querySelector('#result-video');
        video.addEventListener('timeupdate', () => window.times.push(video.currentTime)); }""")
    # it plays as shown, on repeat: its time comes back to the start (without `loop` it stops at its end)
    page.wait_for_function("window.times.some((time, i) => i > 0 && time < window.times[i - 1])", timeout=20_000)
    assert not page.evaluate("document.querySelector('#result-video').ended")
