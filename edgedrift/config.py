"""The one TOML config file, and frozen config objects built from its sections.

Every component defines a frozen dataclass for its settings (``GatewayConfig``,
``SinkConfig`` ...) and builds it with :func:`build_config` from the TOML
section of the same name, then environment variables
``EDGEDRIFT_<SECTION>_<FIELD>`` (how docker/ configures services), then
command-line overrides. Unknown keys and values of the wrong type are refused
with the field's name.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class DemoConfig:
...     port: int = 8080
...     host: str = "127.0.0.1"
>>> build_config(DemoConfig, {"port": 9000}, {"host": None}, section="gateway")
DemoConfig(port=9000, host='127.0.0.1')
>>> build_config(DemoConfig, {"prot": 1}, section="gateway")
Traceback (most recent call last):
...
edgedrift.config.ConfigFileError: gateway.prot: unknown setting; valid settings are host, port
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


class ConfigFileError(ValueError):
    """A config file or setting is invalid; the message names ``section.field``."""


# the sections a config file may have: one per component (a typo such as [gatway] would
# otherwise be ignored and the component run on its defaults)
SECTIONS = ("alerts", "analytics", "compact", "dashboard", "gateway", "kafka", "sink", "storage")


def load_toml(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Read the TOML config (``{}`` when no path is given); unknown sections are refused.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.toml"
    >>> _ = p.write_text("[gatway]\\nport = 1\\n")
    >>> load_toml(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    edgedrift.config.ConfigFileError: --config ...: unknown section [gatway]; valid sections ...
    """
    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise ConfigFileError(f"--config: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"--config: {path} is not valid TOML: {exc}") from None
    unknown = sorted(k for k in doc if k not in SECTIONS)
    if unknown:
        raise ConfigFileError(f"--config {path}: unknown section [{unknown[0]}]; valid sections "
                              "are " + ", ".join(f"[{s}]" for s in SECTIONS))
    return doc


def section(config: dict[str, Any], name: str) -> dict[str, Any]:
    """One ``[name]`` table of the config (``{}`` if absent)."""
    value = config.get(name, {})
    if not isinstance(value, dict):
        raise ConfigFileError(f"[{name}]: expected a table, got {type(value).__name__}")
    return value


def build_config(cls: type[T], values: dict[str, Any] | None = None,
                 overrides: dict[str, Any] | None = None, section: str = "") -> T:
    """Instantiate dataclass ``cls`` from TOML ``values`` then non-None ``overrides``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    merged: dict[str, Any] = {}
    prefix = f"{section}." if section else ""
    env = env_overrides(section, fields) if section else {}
    for source in (values or {}, env,
                   {k: v for k, v in (overrides or {}).items() if v is not None}):
        for key, value in source.items():
            if key not in fields:
                raise ConfigFileError(f"{prefix}{key}: unknown setting; valid settings are "
                                      f"{', '.join(sorted(fields))}")
            merged[key] = _coerce(value, hints[key], f"{prefix}{key}")
    try:
        return cls(**merged)
    except (TypeError, ValueError) as exc:
        raise ConfigFileError(f"{prefix.rstrip('.') or cls.__name__}: {exc}") from None


def env_overrides(section: str, fields: Any,
                  environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings given as ``EDGEDRIFT_<SECTION>_<FIELD>`` environment variables.

    >>> env_overrides("gateway", ["port", "host"], {"EDGEDRIFT_GATEWAY_PORT": "9000"})
    {'port': '9000'}
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for name in fields:
        key = f"EDGEDRIFT_{section}_{name}".upper()
        if key in env:
            out[name] = env[key]
    return out


def _coerce(value: Any, hint: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        errors = []
        for arg in args:
            try:
                return _coerce(value, arg, name)
            except ConfigFileError as exc:
                errors.append(str(exc))
        raise ConfigFileError(errors[0])
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigFileError(f"{name}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigFileError(f"{name}: expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigFileError(f"{name}: expected an integer, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigFileError(f"{name}: expected a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise ConfigFileError(f"{name}: expected a number, got {value!r}") from None
    if hint is str:
        if not isinstance(value, (str, os.PathLike)):
            raise ConfigFileError(f"{name}: expected a string, got {value!r}")
        return str(value)
    if origin in (list, tuple):
        seq: Any = value
        if isinstance(value, str):  # from the environment: comma-separated
            seq = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(seq, (list, tuple)):
            raise ConfigFileError(f"{name}: expected a list, got {value!r}")
        item_args = typing.get_args(hint)
        item = item_args[0] if item_args else Any
        items = [value_ if item is Any else _coerce(value_, item, f"{name}[{i}]")
                 for i, value_ in enumerate(seq)]
        return tuple(items) if origin is tuple else items
    return value
