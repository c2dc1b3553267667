"""`waspada up` (what `make run` starts): embedded broker, dev sinks, the three services, demo
data; it prints where things are and stops cleanly on Ctrl-C (SIGINT)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from shared.embedded_broker import free_port
from tests.harness import wait_for


def test_up_runs_everything_on_embedded_defaults_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASPADA_")}
    env.update(WASPADA_HTTP_PORT=str(port))
    launcher = subprocess.Popen([sys.executable, "-m", "services.cli", "up"], cwd=tmp_path, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    home = tmp_path / ".waspada"
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy():
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 90, interval_s=0.5, what="waspada up to become healthy")
        admin = {"Authorization": f"Bearer {(home / 'admin-token').read_text().strip()}"}
        entries = httpx.get(f"{base}/v1/watchlist/entries", headers=admin).json()
        assert entries["total"] >= 3, "demo watchlist loaded"
        assert len(httpx.get(f"{base}/v1/agencies", headers=admin).json()) == 5, "demo agency directory loaded"

        demo_phone = entries["entries"][0]["phones"][0]
        response = httpx.post(f"{base}/v1/reports", headers=admin,
                              json={"channel": "hotline", "phones": [demo_phone], "reporter": {"name": "Rahma Wati"}})
        assert response.status_code == 202

        def sms_landed():
            path = home / "sms" / "messages.jsonl"
            return path.exists() and [json.loads(line) for line in path.read_text().splitlines()]

        messages = wait_for(sms_landed, 60, what="an SMS in .waspada/sms")
        assert all("Rahma" not in m["form"]["Body"] for m in messages)
        wait_for(lambda: list((home / "mail").glob("*.eml")), 30, what="an email in .waspada/mail")
    finally:
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=60)
    assert launcher.returncode == 0, output
    assert f"http://127.0.0.1:{port}" in output and str(home / "mail") in output
    time.sleep(0.5)
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        raise AssertionError("the API still answers after Ctrl-C")
    except httpx.HTTPError:
        pass
