"""report.html in a real browser: headless Chromium (Debian's ``chromium`` and its matching
``chromium-driver``) driven by selenium. For the reports of real runs (the DALEC2 twin
example, a sampler run, a sensitivity analysis): the page loads, every image decodes
(``complete && naturalWidth > 0``), the browser logs no SEVERE entry, and the parameter table
in the page holds result.nc's numbers. A broken image and a script (refused by the page's
Content-Security-Policy) are caught.

Without chromium/chromedriver/selenium the tests skip with the install line, except in CI
(``CI`` set), where they fail: CI installs them (.ci/setup).
"""
import base64
import importlib.util
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from pdaframe import load_config
from pdaframe.run import run_problem
from tests.unit.report_page import lg2_sampler_run, toy_run

ROOT = Path(__file__).parents[2]
INSTALL = ("apt-get install -y chromium chromium-driver; pip install selenium "
           "(the dev extra)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing():
    """What of the browser test's tools is missing ("" if none)."""
    missing = [name for name in ("chromium", "chromedriver") if not shutil.which(name)]
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium")
    return ", ".join(missing)


@pytest.fixture(scope="module")
def browser():
    missing = _missing()
    if missing:
        message = f"no {missing} for the report's browser test; install with: {INSTALL}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must have them: .ci/setup installs them)")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    profile = tempfile.mkdtemp(prefix="pdaframe-chromium-")
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def page_problems(driver, path) -> list[str]:
    """Open ``path`` and list what is wrong: not loaded, images that did not decode, SEVERE
    browser-log entries (console errors, refused resources)."""
    driver.get_log("browser")                               # drop earlier pages' entries
    driver.get(Path(path).resolve().as_uri())
    problems = []
    state = driver.execute_script("return document.readyState")
    if state != "complete":
        problems.append(f"document not loaded: readyState {state!r}")
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
    problems += [f"image {alt!r} did not decode (complete {done}, naturalWidth {width})"
                 for alt, done, width in images if not (done and width > 0)]
    problems += [f"browser log {e['level']}: {e['message']}" for e in driver.get_log("browser")
                 if e["level"] == "SEVERE"]
    return problems


def dom_parameter_table(driver) -> dict:
    """The parameter table as the browser shows it: ``{column: [data-value or text]}``."""
    return driver.execute_script("""
        const t = Array.from(document.querySelectorAll('table'))
            .find(t => t.tHead && t.tHead.rows[0].cells[0].textContent === 'parameter');
        const head = Array.from(t.tHead.rows[0].cells).map(c => c.textContent);
        const out = {};
        head.forEach((h, j) => out[h] = Array.from(t.tBodies[0].rows).map(r =>
            r.cells[j].dataset.value !== undefined ? Number(r.cells[j].dataset.value)
                                                   : r.cells[j].textContent));
        return out;""")


@pytest.fixture(scope="module")
def dalec2_twin(tmp_path_factory):
    """The DALEC2 twin example (dates, three streams, 23 parameters), run once."""
    problem, settings = load_config(ROOT / "examples" / "dalec2_twin" / "config.toml")
    out = tmp_path_factory.mktemp("dalec2_twin")
    _, paths = run_problem(problem, settings, output_dir=out, progress=False)
    return paths


def test_dalec2_twin_report_loads_and_shows_result_nc(browser, dalec2_twin):
    paths = dalec2_twin
    assert page_problems(browser, paths["report"]) == []
    alts = browser.execute_script("return Array.from(document.images).map(i => i.alt)")
    assert len(alts) == 3 and alts[0].startswith("Observations")
    assert alts[2].startswith("Posterior correlation")
    widths = browser.execute_script(
        "return Array.from(document.images).map(i => i.naturalWidth)")
    assert widths[:2] == [990, 770]              # streams.png, parameters.png at 110 dpi
    assert widths[2] > 0                         # correlation.png
    table = dom_parameter_table(browser)
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert table["parameter"] == list(ds.param.values) and len(table["parameter"]) == 23
        for column, var in [("estimate", "analysis"), ("posterior σ", "posterior_std"),
                            ("prior mean", "prior_mean"), ("prior σ", "prior_std"),
                            ("truth", "truth"), ("lower bound", "lower_bound")]:
            np.testing.assert_array_equal(table[column], ds[var].values, err_msg=column)
    assert browser.title == "DALEC2 twin experiment, US-Me2 drivers 2004-2007"


def test_sampler_report_traces_and_corner_decode(browser, tmp_path):
    _, result, paths = lg2_sampler_run(tmp_path)
    assert page_problems(browser, paths["report"]) == []
    alts = browser.execute_script("return Array.from(document.images).map(i => i.alt)")
    assert [a.split(":")[0].split(";")[0].split(" (")[0] for a in alts[2:]] == [
        "Chains", "Pairs of draws and marginals", "Posterior correlation of the parameters"]
    table = dom_parameter_table(browser)
    np.testing.assert_array_equal(table["estimate"], result.x)


def test_analysis_report_loads(browser, tmp_path):
    _, _, _, paths = toy_run(tmp_path, "morris", "{ n = 4 }")
    assert page_problems(browser, paths["report"]) == []
    assert browser.execute_script("return document.images.length") == 1


def test_a_broken_image_and_a_script_are_caught(browser, dalec2_twin, tmp_path):
    text = dalec2_twin["report"].read_text()
    broken = tmp_path / "broken.html"
    # the second image's PNG cut after its header: the browser cannot decode it
    src = re.findall(r'src="data:image/png;base64,([^"]+)"', text)[1]
    cut = base64.b64encode(base64.b64decode(src)[:64]).decode()
    broken.write_text(text.replace(src, cut))
    problems = page_problems(browser, broken)
    assert len(problems) == 1 and problems[0].startswith("image 'Change of each parameter")
    scripted = tmp_path / "scripted.html"
    scripted.write_text(text.replace("</body>", "<script>console.log(1)</script></body>"))
    problems = page_problems(browser, scripted)
    assert len(problems) == 1 and "inline script violates the following Content Security " \
        "Policy" in problems[0]
