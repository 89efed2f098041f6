"""Parameter tables in files (`pdaframe.plugin.load_parameter_table`, TOML and CSV) and the
external model's ``parameters_file``: exact values, and a named error for every bad table."""
import math
import sys

import numpy as np
import pytest

import pdaframe
from pdaframe.models.external import ExternalModel
from pdaframe.plugin import ConfigError, Parameter, load_parameter_table

CSV = """# two parameters
name,default,lower,upper,std,units,description
k,0.30000000000000004,0.0,1.0,0.05,day-1,"decay rate, of the pool"
c0,100.0,,,20.0,g m-2,
"""
TOML = """
[[parameters]]
name = "k"
default = 0.30000000000000004
lower = 0.0
upper = 1.0
std = 0.05
units = "day-1"
description = "decay rate, of the pool"

[[parameters]]
name = "c0"
default = 100.0
lower = -inf
upper = inf
std = 20.0
units = "g m-2"
"""
EXPECTED = (Parameter("k", 0.1 + 0.2, 0.0, 1.0, 0.05, "day-1", "decay rate, of the pool"),
            Parameter("c0", 100.0, -math.inf, math.inf, 20.0, "g m-2", ""))


def write(tmp_path, text, suffix):
    path = tmp_path / f"p{suffix}"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, suffix", [(CSV, ".csv"), (TOML, ".toml")])
def test_both_formats_give_the_same_exact_table(tmp_path, text, suffix):
    table = load_parameter_table(write(tmp_path, text, suffix))
    assert table == EXPECTED
    assert table[0].default == 0.1 + 0.2 != 0.3          # all 17 digits kept


def csv_with(row):
    return f"name,default,lower,upper,std,units\n{row}\n"


@pytest.mark.parametrize("text, suffix, words", [
    (csv_with("a,6.0,0.0,5.0,1.0,1"), ".csv",
     ["p.csv, line 2 (parameter 'a'), column 'default'", "6.0 is outside its bounds [0.0, 5.0]",
      "lower <= default <= upper"]),
    (TOML.replace("default = 100.0", "default = 100.0\nupper = 50.0").replace(
        "upper = inf\n", ""), ".toml",
     ["p.toml, [[parameters]] 2, line 11 (parameter 'c0'), column 'default'",
      "100.0 is outside its bounds [-inf, 50.0]"]),
    (CSV + "k,0.5,0.0,1.0,0.1,1,again\n", ".csv",
     ["p.csv, line 5", "parameter 'k' is listed twice (first at line 3)", "distinct"]),
    (TOML + TOML.split("\n\n")[0], ".toml",
     ["p.toml, [[parameters]] 3, line 19", "parameter 'k' is listed twice",
      "[[parameters]] 1, line 2"]),
    ("name,default,lower,upper,units\na,1,0,2,1\n", ".csv",
     ["p.csv, header line 1", "missing column(s) ['std']",
      "expected the columns ['name', 'default', 'lower', 'upper', 'std', 'units', "
      "'description']"]),
    (TOML.replace('units = "g m-2"\n', ""), ".toml",
     ["p.toml, [[parameters]] 2, line 11", "missing column(s) ['units']"]),
    ("name,default,lowr,upper,std,units\n", ".csv",
     ["missing column(s) ['lower']", "unknown column(s) ['lowr']"]),
    ("name,default,lower,upper,std,units,std\n", ".csv", ["column(s) ['std'] given twice"]),
    (csv_with("a,1.0,2.0,0.0,1.0,1"), ".csv",
     ["line 2 (parameter 'a'), columns 'lower', 'upper'", "lower < upper", "[2.0, 0.0]"]),
    (csv_with("a,1.0,0.0,2.0,0.0,1"), ".csv",
     ["column 'std'", "positive finite number", "got 0.0"]),
    (csv_with("a,1.0,0.0,2.0,nan,1"), ".csv", ["column 'std'", "expected a number", "'nan'"]),
    (csv_with("a,one,0.0,2.0,1.0,1"), ".csv", ["column 'default'", "expected a number",
                                               "'one'"]),
    (csv_with("a,inf,,,1.0,1"), ".csv", ["column 'default'", "finite number", "inf"]),
    (csv_with("a,1.0,zero,2.0,1.0,1"), ".csv",
     ["column 'lower'", "(empty or -inf/inf: unbounded)", "'zero'"]),
    (csv_with("a b,1.0,0.0,2.0,1.0,1"), ".csv", ["column 'name'", "'a b'",
                                                 "is not a parameter name"]),
    (csv_with("a,1.0,0.0,2.0,1.0,"), ".csv", ["column 'units'", "'1' for dimensionless"]),
    (csv_with("a,1.0,0.0,2.0,1.0"), ".csv", ["line 2", "5 fields, the header has 6"]),
    (TOML.replace("default = 100.0", 'default = "100"'), ".toml",
     ["column 'default'", "expected a number", "'100'"]),
    (TOML.replace("std = 0.05", "std = true"), ".toml", ["column 'std'", "got True"]),
    ("# nothing\n", ".csv", ["empty file", "header row"]),
    ("name,default,lower,upper,std,units\n", ".csv", ["no parameters"]),
    ("title = 'x'\n", ".toml", ["expected only [[parameters]] tables", "['title']"]),
    ("[[parameters]\n", ".toml", ["malformed TOML"]),
    (CSV, ".txt", ["unknown file type '.txt'", ".toml or .csv"]),
])
def test_bad_table_is_a_named_config_error(tmp_path, text, suffix, words):
    path = write(tmp_path, text, suffix)
    with pytest.raises(ConfigError) as info:
        load_parameter_table(path)
    message = str(info.value)
    assert str(path) in message
    missing = [w for w in words if w not in message]
    assert not missing, f"{missing} not in: {message}"


def test_missing_file_and_non_utf8(tmp_path):
    with pytest.raises(ConfigError, match="parameter table not found: .*nope.toml"):
        load_parameter_table(tmp_path / "nope.toml")
    (tmp_path / "p.csv").write_bytes("name,default,lower,upper,std,units,description\n"
                                     "a,1,0,2,1,1,Köln\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="p.csv: cannot read it .* must be UTF-8"):
        load_parameter_table(tmp_path / "p.csv")


# --- the external model's parameters_file ------------------------------------------------

SCRIPT = """import json, os
p = json.load(open(os.environ["PDAFRAME_PARAMETERS"]))
with open("outputs.csv", "w") as f:
    f.write("y\\n" + "".join(f"{p['k'] * t + p['c0']!r}\\n" for t in range(4)))
"""


@pytest.fixture
def case(tmp_path):
    (tmp_path / "case").mkdir()
    (tmp_path / "case" / "model.py").write_text(SCRIPT)
    write(tmp_path, TOML, ".toml")
    return tmp_path


def test_external_model_takes_its_parameters_from_the_file(case):
    model = ExternalModel([sys.executable, "model.py"], outputs=["y"],
                          parameters_file=case / "p.toml", template_dir=case / "case",
                          workdir=case / "runs")
    assert model.parameter_names == ("k", "c0") and model.parameters == EXPECTED
    assert model.run([0.5, 2.0])["y"].tolist() == [2.0, 2.5, 3.0, 3.5]


def test_external_model_file_errors(case):
    kw = dict(outputs=["y"], template_dir=case / "case", workdir=case / "runs")
    with pytest.raises(ConfigError, match=r"parameter_names or parameters_file .*not both"):
        ExternalModel([sys.executable], ["k", "c0"], parameters_file=case / "p.toml", **kw)
    with pytest.raises(ConfigError, match=r"give parameter_names \(a list\) or parameters_file"):
        ExternalModel([sys.executable], **kw)
    write(case, csv_with("k,2.0,0.0,1.0,0.1,1"), ".csv")
    with pytest.raises(ConfigError, match=r"external model: parameters_file: .*p.csv, line 2 "
                                          r"\(parameter 'k'\), column 'default': 2.0 is "
                                          r"outside its bounds"):
        ExternalModel([sys.executable], parameters_file=case / "p.csv", **kw)


CONFIG = """
[model]
name = "external"
options = {{ command = ["{python}", "model.py"], template_dir = "case", workdir = "runs", parameters_file = "p.toml", outputs = ["y"] }}
{parameters}
[[streams]]
name = "y"
variable = "y"
times = {{ start = 0, stop = 3, step = 1 }}
std = 0.1

[twin]
truth = {{ k = 0.5 }}
seed = 1

[method]
name = "lbfgsb-fd"
"""


def test_config_needs_no_parameters_table_with_a_parameters_file(case):
    """The file's defaults, std and bounds are the prior; [parameters] only overrides (the
    config path is relative to the config file)."""
    path = case / "c.toml"
    path.write_text(CONFIG.format(python=sys.executable, parameters=""))
    problem, _ = pdaframe.load_config(path)
    assert problem.parameter_names == ["k", "c0"]
    np.testing.assert_array_equal(problem.prior.mean, [0.1 + 0.2, 100.0])
    np.testing.assert_array_equal(problem.prior.std, [0.05, 20.0])
    (stream,) = problem.streams
    assert np.isfinite(stream.values).all() and stream.values.shape == (3,)
    path.write_text(CONFIG.format(python=sys.executable,
                                  parameters="[parameters]\nc0 = { mean = 3.0, std = 1.0 }\n"))
    problem, _ = pdaframe.load_config(path)
    np.testing.assert_array_equal(problem.prior.mean, [0.1 + 0.2, 3.0])
    np.testing.assert_array_equal(problem.prior.std, [0.05, 1.0])
