"""Plugin discovery and the registries of models, operators, priors, methods and readers.

This is the registry (the machinery); plugin authors import from `pdaframe.plugin` (one
module, re-exports only), which takes `hookimpl`, `get_plugins` and `reset_plugins` from here.

Plugins are found through the entry-point group ``pdaframe`` and loaded on first use (not at
import). pdaframe's own pieces register through the same hooks (`pdaframe.builtin`). Set
``PDAFRAME_DISABLE_PLUGINS`` to a comma-separated list of entry-point names, or to ``all``,
to block external plugins.
"""
from __future__ import annotations

import functools
import os
from importlib import metadata

import pluggy

from . import hookspecs
from .errors import ConfigError, PluginError

hookimpl = pluggy.HookimplMarker("pdaframe")

HOOKS = {
    "model": "pdaframe_register_models",
    "operator": "pdaframe_register_operators",
    "prior": "pdaframe_register_priors",
    "method": "pdaframe_register_methods",
    "reader": "pdaframe_register_readers",
}


class Registry:
    """Names of one kind (model, operator, prior, method, reader) and who registered them."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict = {}
        self.sources: dict[str, tuple[str, str, str]] = {}   # name -> (plugin, dist, version)
        self._current = ("pdaframe", "pdaframe", "")

    def add(self, name: str, obj) -> None:
        """Register ``obj`` as ``name``; a name already taken raises `PluginError`."""
        if not isinstance(name, str) or not name:
            raise PluginError(f"{_who(self._current)}: {self.kind} names must be non-empty "
                              f"strings, got {name!r}")
        if name in self._items:
            raise PluginError(f"{self.kind} {name!r} is registered twice: by "
                              f"{_who(self.sources[name])} and by {_who(self._current)}")
        self._items[name] = obj
        self.sources[name] = self._current

    def get(self, name: str):
        """The object registered as ``name``; unknown names raise `PluginError`."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise PluginError(f"unknown {self.kind} {name!r}; available: "
                              f"{', '.join(sorted(self._items)) or '(none)'}") from None

    def names(self) -> list[str]:
        return sorted(self._items)


def _who(source):
    plugin, dist, version = source
    return f"{dist} {version} (plugin {plugin!r})"


class Plugins:
    """The loaded plugins and their registries, one per kind (build with `get_plugins`)."""

    def __init__(self, disabled=None):
        self.pm = pluggy.PluginManager("pdaframe")
        self.pm.add_hookspecs(hookspecs)
        from . import builtin
        self.pm.register(builtin, name="pdaframe")
        self.dists = {"pdaframe": ("pdaframe", _version("pdaframe"))}
        block_all = disabled is not None and disabled.strip().lower() in ("all", "1", "*")
        blocked = set() if disabled is None else {n.strip() for n in disabled.split(",")}
        for ep in metadata.entry_points(group="pdaframe"):
            if block_all or ep.name in blocked:
                continue
            dist = (ep.dist.name, ep.dist.version) if ep.dist else (ep.value, "?")
            if self.pm.has_plugin(ep.name):
                raise PluginError(f"entry point {ep.name!r} is declared by both "
                                  f"{self.dists[ep.name][0]} and {dist[0]}")
            try:
                plugin = ep.load()
            except Exception as err:  # report any import failure as the plugin's fault
                raise PluginError(f"plugin {ep.name!r} ({ep.value}) from distribution "
                                  f"{dist[0]} {dist[1]} failed to load: "
                                  f"{type(err).__name__}: {err}") from err
            self.pm.register(plugin, name=ep.name)
            self.dists[ep.name] = dist
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as err:
            raise PluginError(f"plugin {err.plugin!r}: {err}") from err
        self.registries = {kind: self._collect(kind, hook) for kind, hook in HOOKS.items()}

    def _collect(self, kind, hook_name):
        registry = Registry(kind)
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            dist, version = self.dists.get(impl.plugin_name, (impl.plugin_name, "?"))
            registry._current = (impl.plugin_name, dist, version)
            impl.function(**{arg: registry for arg in impl.argnames})
        return registry

    def describe(self) -> list[dict]:
        """One dict per plugin: ``name``, ``distribution``, ``version``, ``provides``."""
        rows = []
        for name, (dist, version) in self.dists.items():
            provides = {kind: [n for n in reg.names() if reg.sources[n][0] == name]
                        for kind, reg in self.registries.items()}
            rows.append({"name": name, "distribution": dist, "version": version,
                         "provides": {k: v for k, v in provides.items() if v}})
        return rows


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=None)
def _load(disabled):
    return Plugins(disabled)


def get_plugins() -> Plugins:
    """The plugins, loaded once per value of ``PDAFRAME_DISABLE_PLUGINS``."""
    return _load(os.environ.get("PDAFRAME_DISABLE_PLUGINS"))


def reset_plugins() -> None:
    """Forget loaded plugins (after installing one at run time, and in tests)."""
    _load.cache_clear()


def registry(kind: str) -> Registry:
    """The registry of ``kind``: ``model``, ``operator``, ``prior``, ``method`` or ``reader``."""
    return get_plugins().registries[kind]


def get_model(name: str, **options):
    """Build the registered model ``name`` with ``options``.

    Examples
    --------
    >>> model = get_model("linear", matrix=[[1.0, 0.0], [0.0, 2.0]])
    >>> model.parameter_names
    ('theta_0', 'theta_1')
    """
    return registry("model").get(name)(**options)


def get_operator(name: str, **options):
    """Build the registered observation operator ``name`` with ``options``."""
    return registry("operator").get(name)(**options)


def get_method(name: str):
    """The registered method ``name``; an unknown name is a `ConfigError` (the config's or
    the caller's mistake, not a plugin's) listing the available methods."""
    try:
        return registry("method").get(name)
    except PluginError as err:
        raise ConfigError(str(err)) from None
