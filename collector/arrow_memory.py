"""Which allocator Arrow's buffers come from in the collector's long-running services.

pyarrow's default pool is its bundled mimalloc. In the sink and the embedded gateway
(several threads building and writing Arrow tables of a few MB each, on a 2-vCPU VM)
it cost ~12-20 µs of system CPU per window, returning and re-faulting pages, against
~6 µs for the C library's malloc: a Kafka sink process wrote 12.5-13.7k windows per
CPU-second with mimalloc and 16.5k with the system pool (``python -m bench e2e``).
:func:`use_system_pool` makes the system pool the default for this process and the
processes it starts, unless the operator chose one with Arrow's own
``ARROW_DEFAULT_MEMORY_POOL`` (``system``, ``jemalloc`` or ``mimalloc``).

>>> import os, subprocess, sys
>>> code = ("from collector.arrow_memory import use_system_pool; use_system_pool(); "
...         "import pyarrow as pa; print(pa.default_memory_pool().backend_name)")
>>> env = {k: v for k, v in os.environ.items() if k != ENV}
>>> subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
...                text=True).stdout.strip()
'system'
"""

from __future__ import annotations

import os
import sys

__all__ = ["ENV", "use_system_pool"]

ENV = "ARROW_DEFAULT_MEMORY_POOL"


def use_system_pool() -> str:
    """Make the C library's malloc Arrow's default pool (call once at service start-up);
    returns the pool in effect. An operator's ``ARROW_DEFAULT_MEMORY_POOL`` is kept."""
    chosen = os.environ.get(ENV)
    if chosen:
        return chosen
    os.environ[ENV] = "system"   # read when Arrow first needs its pool (helpers inherit it)
    if "pyarrow" in sys.modules:  # already imported: its default pool may be in use
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
    return "system"
