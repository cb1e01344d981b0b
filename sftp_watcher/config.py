"""Configuration (SPEC 7): one YAML file, overridable from ``SFTP_WATCHER_*`` variables.

Every secret is a ``SecretStr`` and may also be read from a file by giving
``<key>_file: /path`` instead of ``<key>``, so that deployments can mount secrets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from pydantic import (
    AfterValidator,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from sftp_watcher.calling_hours import CallingHours
from sftp_watcher.config_model import ADDRESS as _ADDRESS
from sftp_watcher.config_model import Model as _Model
from sftp_watcher.config_model import check_upload_deadline
from sftp_watcher.config_model import read_secret_files as _read_secret_files
from sftp_watcher.config_source import FastYamlSource
from sftp_watcher.errors import ConfigError
from sftp_watcher.mailbox.settings import EmailUploadConfig, check_flow_addresses
from sftp_watcher.state.urls import masked_url

DEFAULT_CONFIG_PATH = Path("config.yaml")
CONFIG_ENV = "SFTP_WATCHER_CONFIG"


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as Asia/Kolkata)"
        ) from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]


class Limits(_Model):
    max_file_bytes: int = Field(5 * 1024 * 1024, gt=0)
    max_zip_uncompressed_bytes: int = Field(50 * 1024 * 1024, gt=0)
    max_zip_members: int = Field(100, gt=0)
    max_zip_ratio: int = Field(100, gt=0)
    max_rows: int = Field(200_000, gt=0)
    max_schedule_days: int = Field(90, gt=0)


class PhononConfig(_Model):
    realtime_base_url: str = "https://central.phonon.io"
    bulk_base_url: str = "https://central-api.phonon.io"
    timeout_seconds: float = Field(30, gt=0)
    retry_budget_seconds: float = Field(900, ge=0)
    dry_run: bool = False
    dry_run_log: Path = Path("var/phonon-requests.jsonl")


class SmtpConfig(_Model):
    host: str = "localhost"
    port: int = Field(587, gt=0, lt=65536)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    timeout_seconds: float = Field(30, gt=0)
    # PEM certificates to trust instead of the system's (a relay with a private CA);
    # the server's certificate and name are verified either way.
    ca_file: FilePath | None = None


class EmailConfig(_Model):
    backend: Literal["smtp", "file"] = "smtp"
    from_: str = Field("Phonon Uploads <uploads@example.com>", alias="from")
    file_dir: Path = Path("var/outbox")
    smtp: SmtpConfig = SmtpConfig()


class SftpSourceConfig(_Model):
    kind: Literal["sftp"] = "sftp"
    host: str
    port: int = Field(22, gt=0, lt=65536)
    username: str
    password: SecretStr | None = None
    private_key: Path | None = None
    private_key_passphrase: SecretStr | None = None
    host_key: str | None = None
    known_hosts: Path | None = None
    upload_dir: str = "/Upload"
    success_dir: str = "/Success"
    failure_dir: str = "/Failure"
    connect_timeout_seconds: float = Field(15, gt=0)
    operation_timeout_seconds: float = Field(60, gt=0)
    max_sessions_per_host: int = Field(4, gt=0)

    @model_validator(mode="after")
    def _needs_credentials(self) -> SftpSourceConfig:
        if self.password is None and self.private_key is None:
            raise ValueError("give a password or a private_key for the SFTP account")
        return self

    @field_validator("host_key")
    @classmethod
    def _host_key_shape(cls, value: str | None) -> str | None:
        if value is not None and len(value.split()) < 2:
            raise ValueError('host_key must be "<type> <base64>", e.g. "ssh-ed25519 AAAAC3Nza..."')
        return value


class LocalSourceConfig(_Model):
    kind: Literal["local"] = "local"
    path: Path
    upload_dir: str = "Upload"
    success_dir: str = "Success"
    failure_dir: str = "Failure"
    watch: bool = True


SourceConfig = Annotated[SftpSourceConfig | LocalSourceConfig, Field(discriminator="kind")]


class FlowConfig(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9]+$")
    type: Literal["dialer", "multicast"] = "dialer"
    security_id: SecretStr
    api_version: Literal["1.0", "TEST"] = "1.0"
    host: Literal["realtime", "bulk"] = "realtime"
    # The flow's own upload address instead of <local>+<id>@<domain> of email_upload.address.
    email_address: str | None = Field(None, pattern=f"^{_ADDRESS}$")
    # The flow's variables (SPEC 5): with them, any other header rejects the file.
    variables: list[str] | None = None

    @model_validator(mode="after")
    def _bulk_is_multicast(self) -> FlowConfig:
        if self.host == "bulk" and self.type != "multicast":
            raise ValueError("host: bulk is only for multicast flows")
        return self

    @field_validator("variables")
    @classmethod
    def _plain_variable_names(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        names = [_variable_name(name) for name in value]
        if len(set(names)) != len(names):
            raise ValueError("variables: each variable may appear once")
        return names


_VARIABLE_PREFIX = "$flow.key."
_RESERVED_HEADER = re.compile(r"(?i:tel[0-9]+|starttime)")


def _variable_name(name: str) -> str:
    """A declared variable as a header names it: trimmed, without ``$flow.key.``."""
    plain = name.strip()
    if plain.lower().startswith(_VARIABLE_PREFIX):
        plain = plain[len(_VARIABLE_PREFIX) :].strip()
    if not plain or not plain.isprintable():
        raise ValueError(f"variables: {name!r} is not a variable name")
    if _RESERVED_HEADER.fullmatch(plain):
        raise ValueError(f"variables: {name!r} is a column of its own, not a variable")
    return plain


def _check_calling_hours(value: str | None) -> str | None:
    if value is not None:
        CallingHours.parse(value)
    return value


class WebUser(_Model):
    """One account holder who may sign in to the upload page (SPEC 12)."""

    email: str = Field(pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    password_hash: str = Field(pattern=r"^\$argon2id\$", repr=False)


class WebConfig(_Model):
    """The upload page (SPEC 12); served by `run` when ``port`` is set."""

    host: str = "127.0.0.1"
    port: int | None = Field(None, ge=0, lt=65536)
    # As users reach the page; cookies are marked Secure when it is https.
    base_url: str | None = Field(None, pattern=r"^https?://")
    session_secret: SecretStr | None = None
    # Web uploads' Upload/, Success/ and Failure/, one folder per customer.
    spool_dir: Path | None = None
    session_idle_hours: float = Field(8, gt=0)

    @model_validator(mode="after")
    def _secret_when_served(self) -> WebConfig:
        if self.port is not None and self.session_secret is None:
            raise ValueError("session_secret is required when port is set")
        if self.session_secret is not None and len(self.session_secret) < 16:
            raise ValueError("session_secret: at least 16 characters")
        return self

    @property
    def secure_cookies(self) -> bool:
        return (self.base_url or "").lower().startswith("https://")


class CustomerConfig(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    user_id: str = Field(pattern=r"^[0-9]+$")
    emails: list[str] = Field(default_factory=list)
    timezone: TimeZoneName | None = None
    row_policy: Literal["partial", "strict"] = "partial"
    home_region: str = "IN"
    default_country_code: str | None = Field(None, pattern=r"^[0-9]{1,3}$")
    # "09:00-21:00" in the customer's time zone (see calling_hours.py); None: any time.
    calling_hours: Annotated[str | None, AfterValidator(_check_calling_hours)] = None
    retention_days: int | None = Field(None, gt=0)
    source: SourceConfig
    flows: list[FlowConfig] = Field(min_length=1)
    # Who may upload by email: exact addresses or "*@domain" (SPEC 11).
    email_senders: list[str] = Field(default_factory=list)
    web_users: list[WebUser] = Field(default_factory=list)

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_id_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted 129113 as an int; it is an identifier, not a number.
        return str(value) if isinstance(value, int) else value

    @field_validator("home_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {value!r} (use a two-letter code such as IN)")
        return region

    @field_validator("emails")
    @classmethod
    def _plausible_emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", address):
                raise ValueError(f"{address!r} is not an email address")
        return value

    @field_validator("email_senders")
    @classmethod
    def _sender_patterns(cls, value: list[str]) -> list[str]:
        for sender in value:
            address = "x" + sender[1:] if sender.startswith("*@") else sender
            if not re.fullmatch(_ADDRESS, address):
                raise ValueError(f"{sender!r} is neither an address nor *@domain")
        return value

    @model_validator(mode="after")
    def _unique_flows(self) -> CustomerConfig:
        ids = [f.id for f in self.flows]
        if len(ids) != len(set(ids)):
            raise ValueError("flows: each flow id may appear once")
        return self

    def flow(self, flow_id: str) -> FlowConfig | None:
        return next((f for f in self.flows if f.id == flow_id), None)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SFTP_WATCHER_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        populate_by_name=True,
    )

    poll_interval_seconds: float = Field(60, gt=0)
    min_file_age_seconds: float = Field(10, ge=0)
    workers: int = Field(8, gt=0)
    # Not in SPEC 7: sweep processes of one replica (see sftp_watcher.processes).
    processes: int = Field(1, gt=0, le=64)
    duplicate_window_hours: float = Field(24, ge=0)
    state_url: str = "sqlite:///var/sftp-watcher/state.db"
    timezone: TimeZoneName = "Asia/Kolkata"
    limits: Limits = Limits()
    phonon: PhononConfig = PhononConfig()
    email: EmailConfig = EmailConfig()
    sentry_dsn: SecretStr | None = None
    metrics_port: int | None = Field(9108, ge=0, lt=65536)
    # Loopback by default: metrics name customers; 0.0.0.0 where a scraper or probe
    # from outside the host (a Kubernetes kubelet) must reach it.
    metrics_host: str = "127.0.0.1"
    log_format: Literal["json", "console"] = "json"
    # Not in SPEC 7: what operators need to see idle polls (debug) or only problems.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    shutdown_deadline_seconds: float = Field(120, gt=0)
    # Not in SPEC 7: an upload in hand longer ends the process (SPEC 3; see hangwatch).
    upload_deadline_seconds: float | None = Field(None, gt=0)
    web: WebConfig | None = None
    customers: list[CustomerConfig] = Field(default_factory=list)
    email_upload: EmailUploadConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _sentry_dsn_file(cls, data: Any) -> Any:
        return _read_secret_files(data)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _unique_customers(self) -> Settings:
        ids = [c.id for c in self.customers]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"customers: duplicate id(s) {', '.join(dupes)}")
        emails = [u.email.lower() for c in self.customers for u in c.web_users]
        dupes = sorted({e for e in emails if emails.count(e) > 1})
        if dupes:
            # A web user signs in by email alone, so it must name one customer.
            raise ValueError(f"customers: web user(s) in several places: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _email_addresses_unique(self) -> Settings:
        check_flow_addresses(self.email_upload, self.customers)
        return self

    @model_validator(mode="after")
    def _deadline_beyond_retries(self) -> Settings:
        check_upload_deadline(self.upload_deadline_seconds, self.phonon.retry_budget_seconds)
        return self

    def upload_deadline(self) -> float:
        """``upload_deadline_seconds``, by default the Phonon retry budget + 10 minutes."""
        return self.upload_deadline_seconds or self.phonon.retry_budget_seconds + 600

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file; values passed in code (tests, demo) beat both.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        yaml_file = settings_cls.model_config.get("yaml_file")
        if yaml_file is not None:
            sources.append(FastYamlSource(settings_cls))
        return tuple(sources)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # state_url may carry the database password: every repr and str shows it masked.
        for key, value in super().__repr_args__():
            yield key, masked_url(value) if key == "state_url" else value

    def customer(self, customer_id: str) -> CustomerConfig:
        for customer in self.customers:
            if customer.id == customer_id:
                return customer
        known = ", ".join(c.id for c in self.customers) or "none configured"
        raise ConfigError([f"customers: no customer with id {customer_id!r} (known: {known})"])

    def customer_timezone(self, customer: CustomerConfig) -> ZoneInfo:
        return ZoneInfo(customer.timezone or self.timezone)

    def spool_dir(self) -> Path:
        """Where doors stage their items: ``web.spool_dir``, else a ``spool/`` folder
        beside the SQLite state database, else ``var/spool``."""
        if self.web is not None and self.web.spool_dir is not None:
            return self.web.spool_dir
        prefix = "sqlite:///"
        if self.state_url.startswith(prefix) and self.state_url != prefix + ":memory:":
            return Path(self.state_url[len(prefix) :]).parent / "spool"
        return Path("var/spool")


def resolve_config_path(path: Path | str | None) -> Path:
    """The ``--config`` value, else ``$SFTP_WATCHER_CONFIG``, else ``./config.yaml``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_settings(path: Path | str | None = None, **overrides: Any) -> Settings:
    """Read and validate the configuration, raising ``ConfigError`` with every problem."""
    config_path = resolve_config_path(path)
    if not config_path.is_file():
        raise ConfigError([f"{config_path}: configuration file not found"])

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(yaml_file=config_path, yaml_file_encoding="utf-8")

    try:
        settings = _FileSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_yaml_problem(config_path, exc)]) from None
    except (ValueError, OSError, yaml.YAMLError) as exc:
        raise ConfigError([f"{config_path}: {exc}"]) from None
    # As plain Settings (validated already): a class made here cannot be pickled, and
    # sweep processes receive their settings pickled.
    return Settings.model_construct(settings.model_fields_set, **dict(settings))


def _yaml_problem(path: Path, exc: yaml.MarkedYAMLError) -> str:
    """A YAML syntax error as ``file, line L, column C: what is wrong`` (1-based, as editors)."""
    mark = exc.problem_mark or exc.context_mark
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    what = " ".join(part for part in (exc.context, exc.problem) if part) or "not valid YAML"
    return f"{path}{where}: YAML syntax error: {what}"


def settings_from_mapping(data: dict[str, Any]) -> Settings:
    """Build settings from a plain mapping (the demo's embedded defaults, tests)."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> list[str]:
    """One line per problem, each named by its key path (``customers.0.flows.1.id``)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in error["loc"] if part not in {"sftp", "local"})
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{loc or '(top level)'}: {message}")
    return problems
