"""edge_sdk — the on-device library: mergeable window sketches, wire format v1, signing,
an on-disk spool and a background sender.

Owns: sketches (numeric, categorical, labels), layouts and spec files, the
wire format (the one encoder *and* decoder every component uses), HMAC
signing, the spool and the sender.

Must not import: anything but the standard library and msgpack — never
``collector``, ``analytics``, ``dashboard`` or any server package.

>>> from edge_sdk import NumericSketch
>>> NumericSketch().is_empty()
True
"""

from .categorical import CategoricalSketch
from .errors import ConfigError, EdgeDriftError, WireError
from .labels import LabelSketch
from .numeric import NumericSketch
from .spec import Spec
from .window import WindowSketch

__all__ = ["Monitor", "Spec", "NumericSketch", "CategoricalSketch", "LabelSketch",
           "WindowSketch", "ConfigError", "WireError", "EdgeDriftError"]
__version__ = "0.1.0"


def __getattr__(name: str):  # Monitor pulls in threading/http only when used
    if name == "Monitor":
        from .monitor import Monitor
        return Monitor
    raise AttributeError(f"module 'edge_sdk' has no attribute {name!r}")
