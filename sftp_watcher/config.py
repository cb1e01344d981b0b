"""Configuration (SPEC 7): one YAML file, overridable from ``SFTP_WATCHER_*`` variables.

Every secret is a ``SecretStr`` and may also be read from a file by giving
``<key>_file: /path`` instead of ``<key>``, so that deployments can mount secrets.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
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
    YamlConfigSettingsSource,
)

from sftp_watcher.calling_hours import CallingHours
from sftp_watcher.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("config.yaml")
CONFIG_ENV = "SFTP_WATCHER_CONFIG"

_SECRET_KEYS = frozenset(
    {"password", "private_key_passphrase", "security_id", "sentry_dsn", "session_secret"},
)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as Asia/Kolkata)"
        ) from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]


def _read_secret_files(data: Any) -> Any:
    """Replace each ``<secret>_file: PATH`` key by the secret read from that file."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for key in _SECRET_KEYS:
        file_key = f"{key}_file"
        path = out.pop(file_key, None)
        if path is None:
            continue
        try:
            out[key] = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"{file_key}: cannot read {path}: {exc.strerror}") from exc
    return out


class _Model(BaseModel):
    """Strict, immutable config section; ``<secret>_file`` keys are read into the secret."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        return _read_secret_files(data)


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
    log_format: Literal["json", "console"] = "json"
    # Not in SPEC 7: what operators need to see idle polls (debug) or only problems.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    shutdown_deadline_seconds: float = Field(120, gt=0)
    web: WebConfig | None = None
    customers: list[CustomerConfig] = Field(default_factory=list)

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
            sources.append(YamlConfigSettingsSource(settings_cls))
        return tuple(sources)

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
    except (ValueError, OSError) as exc:  # YAML syntax errors surface as these
        raise ConfigError([f"{config_path}: {exc}"]) from None
    # As plain Settings (validated already): a class made here cannot be pickled, and
    # sweep processes receive their settings pickled.
    return Settings.model_construct(settings.model_fields_set, **dict(settings))


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
