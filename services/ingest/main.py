"""`waspada ingest`: run the API with uvicorn."""
from __future__ import annotations

import uvicorn

from services.ingest.app import create_app
from shared.logs import setup_logging
from shared.settings import get_settings


def run() -> None:
    settings = get_settings()
    setup_logging("ingest")
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                log_config=None, access_log=False)
