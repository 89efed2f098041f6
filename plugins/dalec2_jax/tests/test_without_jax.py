"""Without JAX: pdaframe, the compiled plugins and the plugin list work; dalec2-jax says what
to install (JAX is an optional extra; the core never needs it). JAX is made unimportable in a
subprocess (``sys.modules["jax"] = None``), so this runs wherever the plugin is installed."""
import os
import subprocess
import sys
import textwrap

import pytest

if os.environ.get("CI") != "true":      # CI installs this plugin
    pytest.importorskip("pdaframe_dalec2_jax")

SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["jax"] = None              # "import jax" raises ImportError from here on
    sys.modules["jaxlib"] = None
    import numpy as np
    import pdaframe
    from pdaframe.cli import main
    from pdaframe.errors import PluginError
    main(["plugins"])                      # every plugin loads, dalec2-jax included
    dalec2 = pdaframe.get_model("dalec2", site="US-Me2", start="2005-01-01",
                                end="2005-12-31")
    print("dalec2 nee sum", round(float(dalec2.run(dalec2.defaults)["nee"].sum()), 6))
    hymod = pdaframe.get_model("hymod")
    print("hymod runs", sorted(hymod.run(hymod.defaults))[:1])
    for name in ("dalec2-jax", "dalec2-hybrid"):
        try:
            pdaframe.get_model(name, site="US-Me2")
        except PluginError as err:
            print(f"{name}:", err)
    print("jax imported:", any(m == "jax" or m.startswith("jax.") for m, v in
                              sys.modules.items() if v is not None))
""")


def test_pdaframe_and_compiled_plugins_without_jax():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "dalec2_jax  (pdaframe-dalec2-jax" in out and "models: dalec2-hybrid, dalec2-jax" in out
    assert "models: dalec2\n" in out and "models: hymod" in out
    total = float(out.split("dalec2 nee sum ")[1].split()[0])
    assert total < 0                                   # a sink, as the run with JAX
    assert "hymod runs ['" in out
    for name in ("dalec2-jax", "dalec2-hybrid"):
        assert (f'{name}: JAX models need JAX, which is not installed' in out
                and 'install the extra: pip install "pdaframe[jax]"' in out), out
    assert "jax imported: False" in out
