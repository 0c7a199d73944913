"""The built HTML book, opened in a real browser with the network off.

Opens every page listed in _toc.yml from _build/html in headless Chromium (Debian's `chromium`,
driven by the `playwright` package with `executable_path`: no browser is downloaded). Every request
that is not for a local file is aborted, and the browser context is offline. On each page it checks:

- no request for a local file failed (stylesheets, scripts, images, MathJax's own files);
- the sidebar links to every page in _toc.yml;
- every <img> has loaded (naturalWidth > 0);
- the math is typeset by MathJax (every `.math` element holds an `mjx-container`; no raw `$$`,
  `\\(` or `\\[` left in the text), which offline works only with the local copy `make html` makes;
- notebook pages have a Colab launch link, exactly
  https://colab.research.google.com/github/<org>/<repo>/blob/<branch>/<path>.ipynb from _config.yml;
- every solution cell is collapsed, and its code shows when its toggle is clicked.

It also saves screenshots of the first page and the first chapter into _build/ for a person to
look at. Run it after the build: `make html browser` (`make test` runs both, in that order).
Without Chromium, playwright or a built book it is skipped with a message saying how to enable
it; CI (.ci/run) sets CNNLIB_REQUIRE_BROWSER=1 so that there it fails instead.
"""
import os
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
KNOWN_PAGE_ERRORS = ("THEBE_JS_URL",)  # Jupyter Book 1 emits the thebe config script twice


def toc_pages(toc):
    """The `file` entries of _toc.yml, root first, in reading order (without suffixes)."""
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", [{"chapters": toc.get("chapters")}]):
        walk(part.get("chapters"))
    walk(toc.get("sections"))
    return [str(Path(p).with_suffix("")) if Path(p).suffix in (".md", ".ipynb") else p for p in pages]


PAGES = toc_pages(TOC)


def source_of(page):
    for suffix in (".ipynb", ".md"):
        if (ROOT / (page + suffix)).exists():
            return ROOT / (page + suffix)
    raise FileNotFoundError(page)


def colab_link(page):
    """The Colab address Jupyter Book should write for a notebook page, from _config.yml."""
    repo = CONFIG["repository"]
    org_repo = repo["url"].removeprefix("https://github.com/").strip("/")
    book = repo.get("path_to_book", "").strip("/")
    path = f"{book}/{page}" if book else page
    return f"{CONFIG['launch_buttons']['colab_url'].rstrip('/')}/github/{org_repo}/blob/{repo['branch']}/{path}.ipynb"


def page_url(page):
    return (HTML / f"{page}.html").as_uri()


def unavailable(reason):
    if os.environ.get("CNNLIB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (CNNLIB_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def find_chromium():
    """$CHROMIUM if it names an executable, else the first Chromium or Chrome on the PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


# JavaScript run in the page --------------------------------------------------------------------
LOAD_IMAGES = """async () => {
  const images = [...document.images];
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  return images.map(img => ({src: img.getAttribute('src'), width: img.naturalWidth}));
}"""
MATH = """() => {
  const maths = [...document.querySelectorAll('.math')];
  const main = document.body.cloneNode(true);
  main.querySelectorAll('pre, code, script, style, template, mjx-container').forEach(e => e.remove());
  return {count: maths.length,
          untypeset: maths.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 60)),
          containers: document.querySelectorAll('mjx-container').length,
          text: main.textContent};
}"""
LINKS = "sel => [...document.querySelectorAll(sel)].map(a => a.href.split('#')[0])"


def visit(browser, page_name, screenshot=None):
    """Open one page offline and collect what the tests check."""
    if not (HTML / f"{page_name}.html").exists():
        return {"failed": [f"{page_url(page_name)} (not built)"], "blocked": [], "errors": [],
                "mathjax": "page not built", "math": {}, "images": [], "sidebar": [], "colab": [],
                "solutions": []}
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    blocked, failed, errors = [], [], []

    def only_local(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_url(page_name), wait_until="load")
    report = {"blocked": blocked, "errors": errors}

    report["mathjax"] = True
    if page.evaluate("() => document.querySelectorAll('.math').length"):
        try:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=20_000)
            page.evaluate("() => MathJax.startup.promise.then(() => true)")
        except Exception as err:  # noqa: BLE001 -- reported by the math test
            report["mathjax"] = f"MathJax did not start: {str(err).splitlines()[0]}"
    report["math"] = page.evaluate(MATH)
    report["images"] = page.evaluate(LOAD_IMAGES)
    report["sidebar"] = page.evaluate(LINKS, ".bd-sidebar-primary a")
    report["colab"] = sorted(set(h for h in page.evaluate(LINKS, "a")
                                 if h.startswith("https://colab.research.google.com")))

    if screenshot:
        first_display = page.locator("div.math")
        if first_display.count():
            first_display.first.scroll_into_view_if_needed()
            page.mouse.wheel(0, -250)  # some text above the formula
            page.wait_for_timeout(300)
        page.screenshot(path=str(screenshot))

    solutions = []
    cells = page.locator(".cell.tag_solution")
    for k in range(cells.count()):
        cell = cells.nth(k)
        code = cell.locator(".cell_input")
        state = {"collapsed": code.count() == 1 and not code.is_visible(),
                 "open_attribute": cell.locator("details[open]").count() > 0}
        try:
            cell.locator("summary").first.click(timeout=5_000)
            code.first.wait_for(state="visible", timeout=5_000)
            state["shown_on_click"] = bool(code.first.inner_text().strip())
        except Exception:  # noqa: BLE001 -- reported by the solutions test
            state["shown_on_click"] = False
        solutions.append(state)
    report["solutions"] = solutions
    report["failed"] = [f for f in failed if f.startswith("file:")]
    context.close()
    return report


@pytest.fixture(scope="module")
def reports():
    """Every page of the book, opened once in headless Chromium, offline."""
    chromium = find_chromium()
    if not chromium:
        unavailable("no Chromium found: install it (Debian/Ubuntu: `sudo apt-get install chromium`) "
                    "or point CHROMIUM=/path/to/chrome at one, to run the browser test")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is missing: `.venv/bin/pip install -r requirements.txt`")
    if not (HTML / f"{PAGES[0]}.html").exists():
        unavailable(f"no built book in {HTML}: run `make html` (or `make book`) first")

    first_chapter = next((p for p in PAGES if source_of(p).suffix == ".ipynb"), None)
    shots = {PAGES[0]: SCREENSHOTS / "screenshot-first-page.png"}
    if first_chapter:
        shots[first_chapter] = SCREENSHOTS / f"screenshot-{Path(first_chapter).name}.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            reports = {page: visit(browser, page, shots.get(page)) for page in PAGES}
        finally:
            browser.close()
    reports["screenshots"] = list(shots.values())
    return reports


@pytest.mark.parametrize("page", PAGES)
def test_no_local_file_fails_to_load(reports, page):
    assert not reports[page]["failed"]


@pytest.mark.parametrize("page", PAGES)
def test_sidebar_lists_every_page(reports, page):
    missing = [p for p in PAGES if page_url(p) not in reports[page]["sidebar"]]
    assert not missing, f"not in the sidebar of {page}: {missing}"


@pytest.mark.parametrize("page", PAGES)
def test_every_image_has_loaded(reports, page):
    broken = [img["src"] for img in reports[page]["images"] if not img["width"]]
    assert not broken


@pytest.mark.parametrize("page", PAGES)
def test_math_is_typeset_offline(reports, page):
    report = reports[page]
    math = report["math"]
    assert report["mathjax"] is True, report["mathjax"]
    assert not math["untypeset"], f"{len(math['untypeset'])} of {math['count']} formulas not typeset"
    assert math["containers"] >= math["count"]
    for raw in ("$$", "\\(", "\\["):
        assert raw not in math["text"], f"raw TeX {raw!r} left in the text"
    if source_of(page).suffix == ".ipynb" or "$" in source_of(page).read_text():
        assert math["count"], "a page whose source has math shows no formula"


@pytest.mark.parametrize("page", PAGES)
def test_colab_link_is_well_formed(reports, page):
    expected = [colab_link(page)] if source_of(page).suffix == ".ipynb" else []
    assert reports[page]["colab"] == expected


@pytest.mark.parametrize("page", PAGES)
def test_solutions_are_collapsed_and_open_on_click(reports, page):
    source = source_of(page)
    tagged = 0
    if source.suffix == ".ipynb":
        tagged = sum("solution" in c.metadata.get("tags", [])
                     for c in nbformat.read(source, as_version=4).cells)
    states = reports[page]["solutions"]
    assert len(states) == tagged
    for k, state in enumerate(states):
        assert state["collapsed"] and not state["open_attribute"], f"solution {k + 1} is not collapsed"
        assert state["shown_on_click"], f"solution {k + 1} does not show on click"


@pytest.mark.parametrize("page", PAGES)
def test_no_script_errors(reports, page):
    errors = [e for e in reports[page]["errors"] if not any(k in e for k in KNOWN_PAGE_ERRORS)]
    assert not errors


def test_screenshots_were_saved(reports):
    shots = reports["screenshots"]
    assert len(shots) == min(2, len(PAGES))
    for shot in shots:
        assert shot.stat().st_size > 10_000, shot
        print(f"screenshot: {shot}")
