"""``method = "nuts"`` from a config: ``pdaframe run`` writes result.nc and samples.nc (ArviZ)
with the NUTS counters; a model without gradient stops with the named error before a run;
``pdaframe methods nuts`` documents every option."""
import shutil
from pathlib import Path

import numpy as np
import xarray as xr

from tests.conftest import LG2_COV
from tests.integration.test_cli import pdaframe_cli

DATA = Path(__file__).parents[1] / "data"
ROOT = Path(__file__).parents[2]


def nuts_config(tmp_path, options="{ n_samples = 400, burn_in = 300, n_chains = 4 }",
                method="nuts"):
    for f in ("lg2.toml", "lg2_obs.csv"):
        shutil.copy(DATA / f, tmp_path)
    config = tmp_path / "lg2.toml"
    config.write_text(config.read_text().replace(
        '[method]\nname = "lbfgsb"', f'[method]\nname = "{method}"\noptions = {options}'))
    return config


def test_pdaframe_run_nuts_writes_result_and_samples(tmp_path):
    config = nuts_config(tmp_path)
    proc = pdaframe_cli("run", config, "-o", tmp_path / "out", "-q")
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(tmp_path / "out" / "result.nc") as ds:
        assert ds.attrs["method"] == "nuts"
        assert ds.attrs["njev"] > ds.attrs["nfev"] / 2 > 1000
        cov = ds["posterior_covariance"].values
    # the config's prior (std 1 and 2, correlation 0.25) is conftest's B: LG2's closed form
    H = np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])
    B = np.array([[1.0, 0.5], [0.5, 4.0]])
    A = np.linalg.inv(H.T @ H / 0.5 + np.linalg.inv(B))
    assert np.allclose(A, LG2_COV)
    assert np.allclose(cov, A, rtol=0.25, atol=0.01), cov
    import arviz as az
    idata = az.from_netcdf(tmp_path / "out" / "samples.nc")
    assert idata.posterior["theta"].shape == (4, 400, 2)
    assert idata.posterior.attrs["method"] == "nuts"
    assert "lp" in idata.sample_stats


def test_pdaframe_methods_documents_nuts_and_hmc():
    for name, option in (("nuts", "max_tree_depth"), ("hmc", "n_steps")):
        proc = pdaframe_cli("methods", name)
        assert proc.returncode == 0, proc.stderr
        for key in (option, "dense_mass", "target_accept", "gradient", "burn_in"):
            assert key in proc.stdout, (name, key, proc.stdout)


def test_a_model_without_gradient_stops_before_any_run(tmp_path):
    src = ROOT / "examples" / "hymod_dream" / "config.toml"
    text = src.read_text().replace('"../hymod_de/discharge.csv"', '"' + str(
        (src.parent / "../hymod_de/discharge.csv").resolve()) + '"')
    config = tmp_path / "hymod.toml"
    config.write_text(text.replace('name = "dream-zs"', 'name = "nuts"'))
    proc = pdaframe_cli("run", config, "-o", tmp_path / "out", "-q")
    assert proc.returncode == 2, proc.stderr
    assert "error (ConfigError)" in proc.stderr
    assert "nuts: the model Hymod" in proc.stderr or "nuts: the model" in proc.stderr
    assert 'gradient = "fd"' in proc.stderr and "emulator" in proc.stderr
    assert not (tmp_path / "out" / "result.nc").exists()
