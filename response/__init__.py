"""Response and endpoints: IMWG responses and survival endpoints.

response/imwg.py, response/stored.py and response/endpoints.py are pure Python, compiled with mypyc by `make native`
(scripts/build-native) into C extensions beside them, which Python imports in their place. A compiled
module older than its source would run rules other than the ones read here: importing the package refuses it.
"""

import hashlib
import sysconfig
from pathlib import Path

NATIVE = ("imwg", "stored", "endpoints")


def native_state() -> str:
    """'compiled' (every NATIVE module is a C extension of its current source), 'source' (none is compiled),
    or why the compiled modules cannot be used."""
    here, suffix = Path(__file__).parent, sysconfig.get_config_var("EXT_SUFFIX")
    compiled = [(here / f"{name}{suffix}").exists() for name in NATIVE]
    if not any(compiled):
        return "source"
    stamp = here / "native.sha256"
    digest = hashlib.sha256(b"".join((here / f"{name}.py").read_bytes() for name in NATIVE)).hexdigest()
    if not all(compiled) or not stamp.exists() or stamp.read_text().strip() != digest:
        return f"response/{{{','.join(NATIVE)}}}.py changed since they were compiled: run `make native` (or delete response/*{suffix})"
    return "compiled"


if (_state := native_state()) not in ("compiled", "source"):
    raise ImportError(_state)
