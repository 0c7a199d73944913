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
- every solution cell is collapsed, and its code shows when its toggle is clicked;
- no raw TeX or stray `$` outside typeset math, in the prose (untypeset math inside a list item);
- nothing wider than the main column at a 1280 px window: display equations, code blocks, cell
  outputs and tables (a reader would have to scroll sideways, or the equation is cut);
- no warning, traceback, download error or machine path (/tmp/, /work/, /home/, /root/,
  site-packages) in any cell output;
- every chapter shows at least MIN_FIGURES figures (image outputs of its cells);
- every figure's alt text is a sentence (cell metadata `mystnb.image.alt`, written by
  tools/format_notebooks.py from tools/figure_alt.json), not its file path; in dark mode every
  figure shows on white, undimmed (_static/output-tables.css);
- at 1280 px and at a 390 px phone, every result table's cells are padded and no table (or
  anything else) makes the page wider than the window: a wide table scrolls inside its box;
- no page holds a `### BEGIN HIDDEN TESTS` block or a check cell's code (the oracle with the
  expected values): check cells show only their output (tools/format_notebooks.py tags them);
- every computed value in a chapter's prose shows, with the text of its Markdown marker
  (tools/inline_values.py), every citation shows as a link, and no MyST role is left as text.

Each failure names the page and the element (the code cell, by number and first line, or the
section and a snippet of the text). It also saves screenshots of the first page and the first
chapter into _build/, and one of every figure of every chapter into _build/screenshots/
(<chapter>-fig<NN>.png), for a person to look at. Run it after the build: `make html browser` (`make test` runs both, in that order).
Without Chromium, playwright or a built book it is skipped with a message saying how to enable
it; CI (.ci/run) sets CNNLIB_REQUIRE_BROWSER=1 so that there it fails instead.
"""
import html
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build"
FIGURE_SHOTS = ROOT / "_build" / "screenshots"
WINDOW = {"width": 1280, "height": 900}  # a laptop; the column checks are made at this width
PHONE = {"width": 390, "height": 844}  # a phone (iPhone 12 to 15): tables and page width again
MIN_FIGURES = 4  # per chapter (BRIEF of issue 13: "pictures where a reader would rather look")
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

# Names an element for a failure message: its code cell (number on the page and first code
# line) or, in the prose, its section; `snippet` is the start of its text.
WHERE = """
const snippet = (el, n = 60) => (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, n);
const where = el => {
  const cell = el.closest('.cell');
  if (cell) {
    const number = [...document.querySelectorAll('article .cell')].indexOf(cell) + 1;
    const code = cell.querySelector('.cell_input pre');
    const first = code ? code.textContent.trim().split('\\n')[0].slice(0, 50) : '';
    return `code cell ${number}` + (first ? ` (${first})` : ' (input hidden)');
  }
  const section = el.closest('section[id]');
  return section ? `section #${section.id}` : 'the page';
};
"""
LOAD_IMAGES = """async () => {""" + WHERE + """
  const images = [...document.images];
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  return images.map(img => ({src: img.getAttribute('src'), width: img.naturalWidth, where: where(img)}));
}"""
# Prose text (not code, not typeset math) that still holds TeX: a `$`, a \command or \( \[.
RAW_TEX = """() => {""" + WHERE + """
  const skip = 'pre, code, script, style, mjx-container, .MathJax, .headerlink';
  const tex = /\\$|\\\\[A-Za-z]+|\\\\[()\\[\\]{}]/;
  const walker = document.createTreeWalker(document.querySelector('article') || document.body,
                                           NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node; (node = walker.nextNode());) {
    const match = node.textContent.match(tex);
    if (!match || node.parentElement.closest(skip)) continue;
    const block = node.parentElement.closest('p, li, td, th, dt, dd, h1, h2, h3, h4, figcaption, div')
                  || node.parentElement;
    const at = Math.max(0, match.index - 30);
    found.push(`${where(block)}, in <${block.tagName.toLowerCase()}>: `
               + `...${node.textContent.slice(at, match.index + 30).replace(/\\s+/g, ' ')}...`);
  }
  return found;
}"""
# Elements wider than the main column: their content overflows (a scroll bar, or cut off) or
# they reach past the column's right edge. Collapsed toggles are opened first: a reader can.
TOO_WIDE = """() => {""" + WHERE + """
  document.querySelectorAll('article details').forEach(d => { d.open = true; });
  const article = document.querySelector('article.bd-article') || document.querySelector('main');
  const style = getComputedStyle(article), box = article.getBoundingClientRect();
  const right = box.right - parseFloat(style.paddingRight);
  const kinds = [['mjx-container[display="true"]', 'equation'], ['.cell_input pre', 'code'],
                 ['.cell_output pre', 'output'], ['.cell_output img', 'figure'],
                 ['article table', 'table'], ['article div.highlight pre', 'code block']];
  const found = [], seen = new Set();
  for (const [selector, kind] of kinds) {
    for (const el of article.querySelectorAll(selector)) {
      if (seen.has(el) || !el.clientWidth) continue;  // counted already, or not displayed
      seen.add(el);
      const rect = el.getBoundingClientRect();
      const wide = Math.max(el.scrollWidth - el.clientWidth, rect.right - right);
      if (wide > 1) {
        const text = kind === 'figure' ? el.getAttribute('src') : snippet(el, 40);
        found.push(`${kind} in ${where(el)} is ${Math.round(wide)} px wider than the `
                   + `${Math.round(right - box.left - parseFloat(style.paddingLeft))} px column: ${text}`);
      }
    }
  }
  return found;
}"""
# Cell outputs a reader should never see.
JUNK = [
    (r"\b[A-Z]\w*Warning\b|\bwarnings\.warn\b", "a warning"),
    (r"Traceback \(most recent call last\)|^\s*File \".*\", line \d+", "a traceback"),
    # torchvision's progress line and the raw error; a sentence saying the weights were not
    # reachable offline is what a chapter should print instead
    (r"<urlopen error|HTTP Error \d+|Downloading:? \"?https?://", "a download message"),
    (r"/tmp/|/work/|/home/|/root/|site-packages", "a machine path"),
]
# How many characters of the code font fit in a code cell's input and in a text output.
COLUMN_CHARACTERS = """() => {
  const fits = pre => {
    if (!pre) return null;
    const style = getComputedStyle(pre), probe = document.createElement('span');
    probe.textContent = 'x'.repeat(100);
    pre.appendChild(probe);
    const character = probe.getBoundingClientRect().width / 100;
    probe.remove();
    return (pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)) / character;
  };
  return {input: fits(document.querySelector('article .cell_input pre')),
          output: fits(document.querySelector('article .cell_output pre'))};
}"""
# The values and citations tools/inline_values.py wrote into the prose, and any role left raw.
PROSE = """() => {
  const article = document.querySelector('article') || document.body;
  const text = article.cloneNode(true);
  text.querySelectorAll('pre, code, script, style').forEach(e => e.remove());
  const shown = el => el.getClientRects().length > 0;
  return {values: [...article.querySelectorAll('span[data-glue]')].map(
            s => ({spec: s.dataset.glue, text: s.textContent, shown: shown(s)})),
          citations: [...article.querySelectorAll('span[data-cite], span[data-citet]')].map(
            s => ({text: s.textContent, links: s.querySelectorAll('a[href^="http"]').length})),
          raw: text.textContent.match(/\\{(glue|footcite|footbibliography|cite)[\\w:]*\\}/g) || []};
}"""
# Result tables in cell outputs: each cell's padding, and the box a reader scrolls (the nearest
# ancestor that scrolls sideways, else the table) against the main column; and what makes the
# page itself wider than the window (elements that stick out, not inside a scrolling box).
TABLES = """() => {""" + WHERE + """
  const article = document.querySelector('article.bd-article') || document.querySelector('main');
  const column = article.getBoundingClientRect();
  const scroller = el => {
    for (let a = el.parentElement; a && a !== article; a = a.parentElement)
      if (['auto', 'scroll'].includes(getComputedStyle(a).overflowX)) return a;
    return el;
  };
  const tables = [...article.querySelectorAll('.cell_output table')].map(table => {
    const cells = [...table.querySelectorAll('th, td')];
    const padding = Math.min(...cells.map(c => Math.min(parseFloat(getComputedStyle(c).paddingLeft),
                                                        parseFloat(getComputedStyle(c).paddingRight))));
    const box = scroller(table).getBoundingClientRect();
    return {where: where(table), snippet: snippet(table, 40), padding,
            sticks_out: Math.round(Math.max(box.right - column.right, column.left - box.left))};
  });
  const clipped = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement)
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    return false;
  };
  const page = document.documentElement.scrollWidth;
  const wide = page <= window.innerWidth ? [] : [...document.querySelectorAll('article *')].filter(
    el => el.getClientRects().length && el.getBoundingClientRect().right > window.innerWidth + 1
          && !clipped(el)).slice(-3).map(el => `<${el.tagName.toLowerCase()}> in ${where(el)}: ${snippet(el, 40)}`);
  return {tables, page, window: window.innerWidth, wide};
}"""
# The page's prose: the article's text without its code inputs (code may name what it calls).
PROSE_TEXT = """() => {
  const article = (document.querySelector('article.bd-article') || document.querySelector('main'))
    .cloneNode(true);
  article.querySelectorAll('.cell_input, .cell_output, div.highlight, script, style')
    .forEach(el => el.remove());
  return article.textContent;
}"""
# What only the book's authors can use, on a page that readers read: a setting's name, a build
# command, how long a cell took on the machine that ran it, a path inside the repository.
MACHINERY = [
    (r"\bCNNLIB_[A-Z]+", "a cnnlib setting"),
    (r"\bmake (weights|test|quick|execute|book|html)\b", "a build command"),
    (r"\bthis cell:? \d+ s\b|^total \d+ s$|\btrained in \d+ s\b|\bin \d+(\.\d+)? s\b", "a timing"),
    (r"\b(tools|tests|weights|bench|cnnlib)/[\w./-]+\.(py|md|json|txt|pt)\b", "a repository path"),
]
# Check cells' code on the page: a hidden-test block anywhere in the HTML, or a call of the
# checks (`check(`, `check_function(`) in any code input, shown or in a collapsed toggle.
CHECK_CODE = """() => {""" + WHERE + """
  const found = document.documentElement.outerHTML.includes('BEGIN HIDDEN TESTS')
    ? ['a "### BEGIN HIDDEN TESTS" block'] : [];
  for (const input of document.querySelectorAll('article .cell_input')) {
    const line = input.textContent.split('\\n').find(l => /\\bcheck(_function)?\\(/.test(l));
    if (line) found.push(`${where(input)}: ${line.trim().slice(0, 60)}`);
  }
  return found;
}"""
# Each figure's alt text, and how it shows in dark mode (the theme's toggle sets data-theme).
FIGURE_LOOKS = """() => {""" + WHERE + """
  const figures = [...document.querySelectorAll('article .cell_output img')];
  const looks = figures.map(img => ({where: where(img), alt: img.getAttribute('alt') || ''}));
  const theme = document.documentElement.dataset.theme;
  document.documentElement.dataset.theme = 'dark';
  figures.forEach((img, k) => { const style = getComputedStyle(img);
    looks[k].dark = {background: style.backgroundColor, filter: style.filter}; });
  document.documentElement.dataset.theme = theme;
  return looks;
}"""
OUTPUTS = """() => {""" + WHERE + """
  return [...document.querySelectorAll('article .cell_output > *')].map(
    el => ({where: where(el), text: el.textContent}));
}"""


def screenshot_figures(page, page_name):
    """Save an element screenshot of every image output of the page's cells into FIGURE_SHOTS;
    return one entry per figure: where it is, and the screenshot (None if it is not shown)."""
    figures = page.locator("article .cell_output img")
    shots = []
    for k in range(figures.count()):
        figure = figures.nth(k)
        where = figure.evaluate("el => {" + WHERE + " return where(el); }")
        path = FIGURE_SHOTS / f"{Path(page_name).name}-fig{k + 1:02d}.png"
        try:
            figure.screenshot(path=str(path), timeout=5_000)
        except Exception:  # noqa: BLE001 -- a figure that cannot be shown is reported by the test
            path = None
        shots.append({"where": where, "screenshot": path})
    return shots


def visit(browser, page_name, screenshot=None):
    """Open one page offline and collect what the tests check."""
    if not (HTML / f"{page_name}.html").exists():
        return {"failed": [f"{page_url(page_name)} (not built)"], "blocked": [], "errors": [],
                "mathjax": "page not built", "math": {}, "images": [], "sidebar": [], "colab": [],
                "solutions": [], "column": {}, "raw_tex": [], "too_wide": [], "outputs": [], "figures": [],
                "prose": {"values": [], "citations": [], "raw": []}, "prose_text": "", "check_code": [], "figure_looks": [],
                "tables": {}}
    context = browser.new_context(viewport=WINDOW, offline=True)
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

    report["check_code"] = page.evaluate(CHECK_CODE)
    report["figure_looks"] = page.evaluate(FIGURE_LOOKS)
    report["column"] = page.evaluate(COLUMN_CHARACTERS)
    report["raw_tex"] = page.evaluate(RAW_TEX)
    report["too_wide"] = page.evaluate(TOO_WIDE)  # also opens every collapsed toggle
    report["outputs"] = page.evaluate(OUTPUTS)
    report["prose"] = page.evaluate(PROSE)
    report["prose_text"] = page.evaluate(PROSE_TEXT)
    report["figures"] = screenshot_figures(page, page_name)
    report["tables"] = {WINDOW["width"]: page.evaluate(TABLES)}
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)  # the theme's layout for narrow windows, and MathJax's reflow
    report["tables"][PHONE["width"]] = page.evaluate(TABLES)
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

    shutil.rmtree(FIGURE_SHOTS, ignore_errors=True)  # no figure of an older build is left there
    FIGURE_SHOTS.mkdir(parents=True)
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
    broken = [f"{img['where']}: {img['src']}" for img in reports[page]["images"] if not img["width"]]
    assert not broken, f"{page}: {len(broken)} image(s) did not load: {broken}"


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


def failures(page, problems, what):
    """A message naming the page and each offending element, one per line."""
    return f"{page}: {len(problems)} {what}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("page", PAGES)
def test_no_raw_tex_outside_typeset_math(reports, page):
    raw = reports[page]["raw_tex"]
    assert not raw, failures(page, raw, "piece(s) of raw TeX or stray `$` in the text")


@pytest.mark.parametrize("page", PAGES)
def test_nothing_is_wider_than_the_column(reports, page):
    wide = reports[page]["too_wide"]
    assert not wide, failures(page, wide, f"element(s) wider than the column at {WINDOW['width']} px")


def junk_in(text):
    """Each line of an output's text that a reader should not see (see JUNK), with what is wrong."""
    found = []
    for line in text.splitlines():
        what = [name for pattern, name in JUNK if re.search(pattern, line)]
        if what:
            found.append(f"{' and '.join(what)}: {line.strip()[:90]!r}")
    return found


@pytest.mark.parametrize("page", PAGES)
def test_outputs_show_no_warnings_tracebacks_or_paths(reports, page):
    junk = [f"{out['where']}: {item}" for out in reports[page]["outputs"] for item in junk_in(out["text"])]
    assert not junk, failures(page, junk, "output line(s) a reader should not see")


def machinery_in(text):
    return [f"{name}: {line.strip()[:90]!r}" for line in text.splitlines()
            for pattern, name in MACHINERY if re.search(pattern, line)]


@pytest.mark.parametrize("page", [p for p in PAGES if source_of(p).suffix == ".ipynb"])
def test_no_machinery_in_a_chapters_outputs_or_prose(reports, page):
    found = [f"{out['where']}: {item}" for out in reports[page]["outputs"]
             for item in machinery_in(out["text"])]
    found += [f"prose: {item}" for item in machinery_in(reports[page]["prose_text"])]
    assert not found, failures(page, found, "setting(s), command(s), timing(s) or path(s)")


def test_the_machinery_patterns_catch_what_they_name():
    caught = machinery_in("set CNNLIB_RETRAIN=1\nRetrain it with `make weights NET=x`\n"
                          "(adaptation trained in 392 s; this cell 407 s)\ntotal 626 s\n"
                          "see tools/pilot_relu_tanh.py and weights/README.md")
    assert [item.split(":")[0] for item in caught] == [
        "a cnnlib setting", "a build command", "a timing", "a timing", "a repository path"]
    assert not machinery_in("the 0.5 s of a step, in 3 epochs; `cnnlib.pretrained` makes it")


CHAPTERS = [p for p in PAGES if source_of(p).suffix == ".ipynb"]


@pytest.mark.parametrize("page", CHAPTERS)
def test_code_column_fits_the_formatters_line_length(reports, page):
    # tools/format_notebooks.py wraps code at LINE_LENGTH, and chapters print lines no longer:
    # both must fit the column (_static/code-column.css sets the code font's size for that).
    sys.path.insert(0, str(ROOT / "tools"))
    from format_notebooks import LINE_LENGTH

    for kind, fits in reports[page]["column"].items():
        if fits is not None:
            assert fits >= LINE_LENGTH, (f"{page}: a code cell's {kind} holds {fits:.1f} characters "
                                         f"at {WINDOW['width']} px, fewer than {LINE_LENGTH}")


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_has_enough_figures(reports, page):
    figures = reports[page]["figures"]
    assert len(figures) >= MIN_FIGURES, (
        f"{page} shows {len(figures)} figure(s) (image outputs of its cells); a chapter needs at "
        f"least {MIN_FIGURES}: " + "; ".join(f["where"] for f in figures))


def typeset(text):
    """``text`` as Sphinx's smart quotes print it (' -> ’, -- -> –, ... -> …), to compare."""
    for plain, fancy in (("---", "\u2014"), ("--", "\u2013"), ("...", "\u2026")):
        text = text.replace(plain, fancy)
    return re.sub(r"['\u2018\u2019]", "\u2019", re.sub(r'["\u201c\u201d]', '"', text))


@pytest.mark.parametrize("page", CHAPTERS)
def test_prose_shows_every_value_and_citation(reports, page):
    # The HTML shows the Markdown's values (tests/test_prose.py ties those to the outputs):
    # each marker of the notebook, in order, with its text, and each citation as a link.
    sys.path.insert(0, str(ROOT / "tools"))
    from inline_values import CITE_MARKER, VALUE_MARKER

    prose = reports[page]["prose"]
    markdown = "\n".join(c.source for c in nbformat.read(source_of(page), as_version=4).cells
                         if c.cell_type == "markdown")
    expected = [(m["spec"], typeset(html.unescape(m["text"]))) for m in VALUE_MARKER.finditer(markdown)]
    assert [(v["spec"], typeset(v["text"])) for v in prose["values"]] == expected, page
    hidden = [v["spec"] for v in prose["values"] if not v["shown"]]
    assert not hidden, f"{page}: values not shown: {hidden}"
    assert len(prose["citations"]) == len(CITE_MARKER.findall(markdown)), page
    unlinked = [c["text"] for c in prose["citations"] if not c["links"]]
    assert not unlinked, f"{page}: citations without a link: {unlinked}"
    assert not prose["raw"], f"{page}: MyST roles shown as text: {prose['raw']}"


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
    figures = [(page, f) for page in PAGES for f in reports[page]["figures"]]
    missing = [f"{page}: figure in {f['where']}" for page, f in figures
               if f["screenshot"] is None or f["screenshot"].stat().st_size < 1_000]
    assert not missing, failures("figure screenshots", missing, "figure(s) could not be captured")
    print(f"{len(figures)} figure screenshots in {FIGURE_SHOTS}")


MIN_PADDING_PX = 4  # between a cell's text and its neighbour's: "0.9270.073" had 0


@pytest.mark.parametrize("width", [WINDOW["width"], PHONE["width"]])
@pytest.mark.parametrize("page", PAGES)
def test_tables_are_padded_and_never_widen_the_page(reports, page, width):
    measured = reports[page]["tables"][width]
    unpadded = [f"{t['where']} ({t['padding']:.0f} px): {t['snippet']}" for t in measured["tables"]
                if t["padding"] < MIN_PADDING_PX]
    assert not unpadded, failures(page, unpadded, f"table(s) with cells padded under {MIN_PADDING_PX} px")
    outside = [f"{t['where']} ({t['sticks_out']} px): {t['snippet']}" for t in measured["tables"]
               if t["sticks_out"] > 1]
    assert not outside, failures(page, outside, f"table box(es) reaching out of the column at {width} px")
    assert measured["page"] <= measured["window"], failures(
        page, measured["wide"], f"element(s) making the page {measured['page']} px wide in a {width} px window")


@pytest.mark.parametrize("page", PAGES)
def test_no_hidden_tests_or_check_code_on_the_page(reports, page):
    shown = reports[page]["check_code"]
    assert not shown, failures(page, shown, "piece(s) of check-cell code a reader can see")


def is_a_sentence(text):
    """An alt text that describes: words, a capital first and a full stop last, no file name."""
    return (len(text.split()) >= 6 and text[:1].isupper() and text.rstrip().endswith(".")
            and not re.search(r"\.(png|jpe?g|gif|svg)\b|_images/|^\.\./", text))


@pytest.mark.parametrize("page", CHAPTERS)
def test_every_figure_has_an_alt_sentence_and_shows_on_white_in_dark_mode(reports, page):
    looks = reports[page]["figure_looks"]
    bad_alt = [f"{f['where']}: {f['alt'][:60]!r}" for f in looks if not is_a_sentence(f["alt"])]
    assert not bad_alt, failures(page, bad_alt, "figure(s) whose alt text is not a sentence")
    dark = [f"{f['where']}: {f['dark']}" for f in looks
            if f["dark"]["background"] != "rgb(255, 255, 255)" or f["dark"]["filter"] != "none"]
    assert not dark, failures(page, dark, "figure(s) not shown on white, undimmed, in dark mode")
