"""Configuration from WASPADA_* environment variables (names are a public contract)."""
from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SmtpTls(StrEnum):
    none = "none"
    starttls = "starttls"
    tls = "tls"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WASPADA_", extra="ignore")

    # Where local state lives: the default SQLite file, dev sink mailboxes, broker logs.
    home: Path = Path(".waspada")

    kafka_bootstrap: str | None = None  # unset: `waspada up` starts the embedded broker
    kafka_partitions: int = 4
    database_url: str | None = None  # default: sqlite file under `home`

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    admin_token: SecretStr | None = None
    public_url: str | None = None  # base of links in alerts; default http://host:port

    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: SmtpTls = SmtpTls.none
    smtp_timeout_s: float = 30.0  # the whole send: connect, TLS, login and the message
    smtp_pool_size: int = 8  # open SMTP connections kept per notifier worker
    smtp_ca_file: Path | None = None  # trust this CA (e.g. the relay's private CA) besides the system's
    mail_from: str = "waspada@localhost"

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_api_base: str = "https://api.twilio.com"

    # Consumer groups join in about half the session timeout on the embedded broker.
    kafka_session_timeout_ms: int = 6000
    kafka_heartbeat_interval_ms: int = 1000

    outbox_poll_s: float = 0.2
    heartbeat_s: float = 2.0
    heartbeat_stale_s: float = 10.0
    retro_screen_days: int = 30
    # Matches from here up to the alert threshold (0.8) are possible matches: listed for a
    # reviewer (GET /v1/reviews), never sent to an agency
    review_threshold: float = Field(default=0.6, ge=0.5, le=0.8)
    delivery_deadline_s: float = 600.0
    # An urgent (high or urgent risk) alert not acknowledged in this time goes to the agency's
    # next number (its escalation ladder: duty officer, deputy, head, task-force coordinator).
    escalate_after_s: float = 900.0
    # An SMS not reported delivered in this time is also sent by email (failover).
    failover_after_s: float = 300.0
    email_per_s: float = 200.0  # per notifier worker
    sms_per_s: float = 5.0  # per notifier worker; Twilio long codes take about 1/s, short codes more
    # An SMS in doubt (its worker died mid-send, or the send timed out) is looked up at Twilio
    # among messages sent since its attempt began minus this margin (clocks differ) before it
    # is sent again.
    sms_lookup_margin_s: float = 300.0
    notifier_instance: str | None = None
    # The SMS/WhatsApp reply to whoever sends a tip (paced like other SMS); empty: no reply.
    # Short and without case data: the sender's phone may be read by someone else.
    tip_reply: str = Field(default="Terima kasih, laporan Anda sudah kami terima. Identitas Anda dirahasiakan. "
                                   "Jangan balas jika tidak aman.", max_length=160)

    max_body_bytes: int = Field(default=64 * 1024)
    # Per API token, per ingest process: a token bucket of this rate and burst (429 beyond).
    rate_limit_per_s: float = 20.0
    rate_limit_burst: int = 100
    # Reporter identity, desa and ad text are purged this many days after receipt, unless on hold.
    retention_days: int = 365
    retention_check_s: float = 3600.0

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'waspada.db').resolve()}"

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.http_host}:{self.http_port}"

    @property
    def bootstrap(self) -> str:
        if not self.kafka_bootstrap:
            raise RuntimeError("WASPADA_KAFKA_BOOTSTRAP is not set (and no embedded broker was started)")
        return self.kafka_bootstrap


@lru_cache
def get_settings() -> Settings:
    return Settings()
