"""report.html (`pdaframe.report`): its tables hold the run's numbers (against result.nc,
samples.nc and the result), its images are the run's PNGs embedded, text from the config is
escaped, ``[output] report`` switches it, `add_section` extends it, failures are
`OutputError`s. The browser test is tests/unit/test_report_browser.py."""
import base64
import io
import shutil

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from pdaframe import ConfigError, OutputError, load_config
from pdaframe.methods.importance import weighted_quantile
from pdaframe.report import Section, add_section, write_report
from pdaframe.run import run_problem
from tests.integration.test_dates_evaluate import dated_plugin, write_obs  # noqa: F401
from tests.unit.report_page import DATA, Page, lg2_sampler_run, toy_run
from tests.unit.test_result_kinds import METHODS


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy twin by L-BFGS-B with its report."""
    tmp = tmp_path_factory.mktemp("toy")
    problem, settings, result, paths = toy_run(tmp)
    return problem, settings, result, paths, Page(paths["report"].read_text())


def test_parameter_table_holds_the_numbers_of_result_nc(toy):
    problem, _, result, paths, page = toy
    table = page.table("parameter")
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert table["parameter"] == list(ds.param.values)
        assert table["units"] == list(ds.param_units.values)
        for column, var in [("prior mean", "prior_mean"), ("prior σ", "prior_std"),
                            ("lower bound", "lower_bound"), ("upper bound", "upper_bound"),
                            ("background", "background"), ("truth", "truth"),
                            ("estimate", "analysis"), ("posterior σ", "posterior_std")]:
            np.testing.assert_array_equal(table[column], ds[var].values, err_msg=column)
        # the 90 % Laplace interval: inside result.nc's 95 % one, around the estimate
        low, high = np.array(table["90 % low"]), np.array(table["90 % high"])
        assert np.all((ds.posterior_lower95.values < low) & (low < ds.analysis.values) &
                      (ds.analysis.values < high) & (high < ds.posterior_upper95.values))
    np.testing.assert_allclose([low, high], result.posterior_interval(0.9), rtol=1e-14)
    # the transforms keep the width within 0.5 % of 2 x 1.645 sigma here (95 %: 1.96)
    np.testing.assert_allclose(high - low, 2 * 1.6449 * result.posterior_std, rtol=0.005)
    assert table["at bound"] == [""] * 6
    # the shown text is the value to 5 significant digits
    text = [r[8][0] for r in next(t for t in page.tables if t["header"][:1] ==
                                   ["parameter"])["rows"]]
    assert text == [f"{v:.5g}" for v in result.x]


def test_summary_and_diagnostics_are_the_runs(toy):
    problem, settings, result, paths, page = toy
    summary = page.pairs("method")
    assert summary["method"] == "lbfgsb" and summary["success"] == "True"
    assert summary["J end"] == result.fun and summary["J start"] == result.history["cost"][0]
    assert summary["observations m"] == 738 == problem.n_obs
    assert summary["2J/m"] == pytest.approx(2 * result.fun / 738, rel=1e-15)
    assert summary["model runs"] == result.nfev
    streams = page.table("stream")
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert streams["stream"] == list(ds.stream.values) == ["nee", "c_slow"]
        np.testing.assert_array_equal(streams["n"], ds.stream_n_obs.values)
        np.testing.assert_array_equal(streams["RMS"], ds.stream_residual_rms.values)
        np.testing.assert_array_equal(streams["normalised RMS"],
                                      ds.stream_normalised_rms.values)
    assert "2J<sub>min</sub> = 736.407 with 738 degrees" in paths["report"].read_text()
    assert page.headings == ["Summary", "Parameters", "Diagnostics", "Figures", "Provenance"]


def test_images_are_the_runs_pngs_embedded_and_nothing_is_fetched(toy):
    *_, paths, page = toy
    assert [alt.split(":")[0].split(" per")[0] for _, alt in page.images] == [
        "Observations (with their errors) and the model equivalents",
        "Change of each parameter from the background, in prior standard deviations, with "
        "the posterior standard deviation",
        "Posterior correlation of the parameters (identifiability; the strongly correlated "
        "pairs are listed under Diagnostics)"]
    for (src, _), name in zip(page.images, ("streams_plot", "parameters_plot",
                                            "correlation_plot")):
        head, _, data = src.partition(",")
        assert head == "data:image/png;base64"
        raw = base64.b64decode(data, validate=True)
        assert raw == paths[name].read_bytes()            # drawn once, embedded as written
        with Image.open(io.BytesIO(raw)) as im:
            im.verify()
            assert im.size[0] > 500
    text = paths["report"].read_text()
    assert "script" not in page.tags and "link" not in page.tags
    assert "http:" not in text and "https:" not in text
    assert "default-src 'none'" in text                   # the page may load nothing


def test_held_out_scores_are_the_evaluations(tmp_path, dated_plugin):  # noqa: F811
    write_obs(tmp_path)
    problem, settings = load_config(tmp_path / "c.toml")
    result, paths = run_problem(problem, settings, tmp_path / "out", progress=False)
    page = Page(paths["report"].read_text())
    held = page.table("stream", nth=1)
    rows = result.evaluation["y_late"]
    assert held["stream"] == ["y_late"] * 2 and held["estimate"] == ["prior", "posterior"]
    for key, column in [("n", "n"), ("rmse", "RMSE"), ("bias", "bias"),
                        ("correlation", "correlation")]:
        np.testing.assert_array_equal(held[column], [rows["prior"][key],
                                                     rows["posterior"][key]], err_msg=column)
    assert rows["posterior"]["rmse"] < 1e-3 < rows["prior"]["rmse"]
    assert page.table("stream")["stream"] == ["y_early"]       # the diagnostics' table


def test_provenance_lists_versions_data_hashes_seed_and_config(toy):
    _, settings, result, paths, page = toy
    run = page.pairs("run id")
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert run["run id"] == ds.attrs["run_id"] and run["seed"] == str(ds.attrs["seed"])
        files = page.table("file")
        import json
        assert dict(zip(files["file"], files["sha256"])) == json.loads(ds.attrs["data_files"])
        versions = page.table("distribution")
        deps = json.loads(ds.attrs["dependency_versions"])
        assert dict(zip(versions["distribution"], versions["version"])) == deps
    assert "numpy" in versions["distribution"]
    assert f"<pre>{settings.text[:40]}" in paths["report"].read_text()


def test_text_from_the_config_is_escaped(tmp_path):
    title = '<script>alert("x")</script> & <b>co</b>'
    _, _, _, paths = toy_run(tmp_path, edit=lambda t: t.replace(
        'title = "toy-carbon twin experiment"', f"title = '{title}'") +
        "\n# </pre><img src=x onerror=alert(1)>\n")
    text = paths["report"].read_text()
    page = Page(text)
    assert "script" not in page.tags and "b" not in page.tags
    assert len(page.images) == 3                           # the comment's <img> is text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;co&lt;/b&gt;" \
        in text
    assert "# &lt;/pre&gt;&lt;img src=x onerror=alert(1)&gt;" in text


def test_output_report_switch(tmp_path):
    _, settings, _, paths = toy_run(tmp_path, edit=lambda t: t + "report = false\n")
    assert settings.report is False
    assert "report" not in paths and not (tmp_path / "out" / "report.html").exists()
    (tmp_path / "bad.toml").write_text((tmp_path / "c.toml").read_text().replace(
        "report = false", 'report = "yes"'))
    with pytest.raises(ConfigError, match=r"\[output\].*'report'"):
        load_config(tmp_path / "bad.toml")


def test_without_plots_the_report_has_tables_and_says_why_no_figures(tmp_path):
    _, _, result, paths = toy_run(tmp_path, edit=lambda t: t + "plots = false\n")
    page = Page(paths["report"].read_text())
    assert page.images == [] and "streams_plot" not in paths
    assert "No figures: plots are off ([output] plots = false)." in paths["report"].read_text()
    assert page.table("parameter")["estimate"] == list(result.x)


def test_add_section_and_extra_figures(toy, tmp_path):
    problem, settings, result, paths, _ = toy
    png = paths["parameters_plot"]
    out = write_report(tmp_path, result, problem, figures={"streams_plot": paths["streams_plot"]},
                       extra_figures=[png, ("my <caption>", png)],
                       extra_sections=[Section("Extra <1>", "a < b", (png,))])["report"]
    page = Page(out.read_text())
    assert [alt for _, alt in page.images][1:] == ["parameters", "my <caption>", "parameters"]
    assert page.headings[-2:] == ["Extra <1>", "Provenance"]
    add_section(out, "predict: +2 K", "text & more", [("scenario", png)])
    page = Page(out.read_text())
    assert page.headings[-3:] == ["Extra <1>", "predict: +2 K", "Provenance"]
    assert page.images[-1][1] == "scenario" and len(page.images) == 5
    assert "<pre>text &amp; more</pre>" in out.read_text()
    with pytest.raises(OutputError, match="cannot read the figure .*missing.png"):
        add_section(out, "x", figures=[tmp_path / "missing.png"])
    assert len(Page(out.read_text()).images) == 5         # unchanged
    (tmp_path / "other.html").write_text("<html></html>")
    with pytest.raises(OutputError, match="not a pdaframe report"):
        add_section(tmp_path / "other.html", "x")


def test_a_failed_write_is_an_output_error_and_leaves_nothing(toy, tmp_path):
    problem, _, result, _, _ = toy
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="report.html"):
        write_report(tmp_path / "file", result, problem)
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_sampler_report_has_traces_corner_and_draw_quantiles(tmp_path):
    _, result, paths = lg2_sampler_run(tmp_path)
    assert {"trace_plot", "corner_plot", "samples"} <= set(paths)
    page = Page(paths["report"].read_text())
    captions = [alt for _, alt in page.images]
    assert captions[2] == "Chains: marginal density per chain and trace"
    assert captions[3] == "Pairs of draws and marginals; 2000 of 2000 draws shown"
    for (src, _), name in zip(page.images[2:], ("trace_plot", "corner_plot")):
        assert base64.b64decode(src.partition(",")[2]) == paths[name].read_bytes()
    table = page.table("parameter")
    with xr.open_dataset(paths["samples"], group="posterior") as post:
        draws = post.theta.values.reshape(-1, 2)
    q90 = np.quantile(draws, [0.05, 0.95], axis=0)
    np.testing.assert_array_equal([table["90 % low"], table["90 % high"]], q90)
    q95 = np.quantile(draws, [0.025, 0.975], axis=0)
    assert np.all(q95[0] < q90[0] - 0.05) and np.all(q90[1] + 0.05 < q95[1])   # told apart
    np.testing.assert_array_equal(table["posterior σ"], result.posterior_std)
    assert "90 % interval: quantiles of 2000 draws." in paths["report"].read_text()


@pytest.mark.parametrize("method, options", [
    ("4denvar", "{ n_members = 20, outer_loops = 2 }"), ("importance", "{ n_members = 48 }")])
def test_ensemble_report_has_members_and_their_weighted_interval(tmp_path, method, options):
    _, _, result, paths = toy_run(tmp_path, method, options)
    assert "members_plot" in paths
    text = paths["report"].read_text()
    page = Page(text)
    assert page.images[2][1].startswith("Members per parameter: prior and posterior")
    assert base64.b64decode(page.images[2][0].partition(",")[2]) == \
        paths["members_plot"].read_bytes()
    table = page.table("parameter")
    low, high = np.array(table["90 % low"]), np.array(table["90 % high"])
    with xr.open_dataset(paths["ensemble"]) as ds:
        theta, w, ess = ds.theta.values, ds.weight.values, float(ds.ess)
    np.testing.assert_array_equal([low, high], weighted_quantile(theta, w, [0.05, 0.95]))
    if method == "4denvar":       # equal weights: 90 % of 20 members lie inside, but the ends
        inside = ((theta >= low) & (theta <= high)).sum(axis=0)
        assert np.all((inside >= 17) & (inside <= 19)), inside
        assert "90 % interval: quantiles of 20 members." in text
    else:
        assert f"weighted quantiles of 48 members (effective sample size {ess:.3g})" in text


def test_analysis_report_shows_the_summary_and_the_sensitivity_plot(tmp_path):
    _, _, result, paths = toy_run(tmp_path, "morris", "{ n = 4 }")
    text = paths["report"].read_text()
    page = Page(text)
    assert page.headings == ["Summary", "Figures", "Provenance"]
    assert page.images[0][1] == "Sensitivity indices per parameter"
    assert "<details open><summary>Text summary" in text
    first = result.summary().splitlines()[0]
    assert first.replace("&", "&amp;").replace("<", "&lt;") in text


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_writes_a_report_whose_images_decode(tmp_path, method):
    """Every registered method's run (LG2, options of test_result_kinds, plots on) writes a
    report: its tables hold the estimate, its figures are decodable PNGs."""
    kind, options, box = METHODS[method]
    shutil.copy(DATA / "lg2_obs.csv", tmp_path)
    inline = "{ " + ", ".join(f"{k} = {v!r}" for k, v in options.items()) + " }"
    text = (DATA / "lg2.toml").read_text().replace(
        'name = "lbfgsb"', f'name = "{method}"\noptions = {inline}')
    if box == "state":                  # the joint EnKF: Lorenz-96 (a model with a state)
        from tests.unit.test_joint_enkf import lorenz96_config
        text = lorenz96_config(tmp_path, inline[2:-2]).read_text().replace("plots = false\n",
                                                                          "")
    elif box:                                        # DE and GA search the bounds' box
        text = text.replace("std = 1.0 }", "std = 1.0, lower = -5.0, upper = 10.0 }") \
            .replace("std = 2.0 }", "std = 2.0, lower = -5.0, upper = 10.0 }")
    (tmp_path / "c.toml").write_text(text)
    problem, settings = load_config(tmp_path / "c.toml")
    result, paths = run_problem(problem, settings, tmp_path / "out", progress=False)
    page = Page(paths["report"].read_text())
    assert page.headings[0] == "Summary" and page.headings[-1] == "Provenance"
    assert ("Parameters" in page.headings) == (kind != "analysis")
    if kind != "analysis":
        table = page.table("parameter")
        assert table["estimate"] == list(result.x)
        assert table["lower bound"] == ([-np.inf] if box == "state" else [-5.0, -5.0] if box
                                        else [-np.inf, -np.inf])
        assert "−∞" in paths["report"].read_text(encoding="utf-8") or box is True
    figures = {"optimisation": 2, "sample": 4, "ensemble": 3}.get(kind, 0)
    # identifiability: a correlation heatmap for every estimate with a covariance
    assert ("correlation_plot" in paths) == ("posterior_covariance" in result)
    figures += "correlation_plot" in paths
    if method in ("oat", "morris", "sobol", "efast"):
        figures = 1
    assert len(page.images) == figures, [alt for _, alt in page.images]
    for src, alt in page.images:
        with Image.open(io.BytesIO(base64.b64decode(src.partition(",")[2]))) as im:
            im.verify()
