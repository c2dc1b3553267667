"""The web UI: server-rendered pages (Jinja2) with a little plain JavaScript, served by the ingest."""
