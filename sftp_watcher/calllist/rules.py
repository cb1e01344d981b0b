"""The rules a call list is judged by: one customer's, or the permissive ones of `validate`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from sftp_watcher.config import CustomerConfig, Limits, Settings

DEFAULT_TIMEZONE = "Asia/Kolkata"


@dataclass(frozen=True, slots=True)
class Rules:
    timezone: ZoneInfo
    limits: Limits = field(default_factory=Limits)
    row_policy: Literal["partial", "strict"] = "partial"
    home_region: str = "IN"
    default_country_code: str | None = None
    user_id: str | None = None  # None: any user id is accepted (validate without --customer)
    flow_ids: frozenset[str] | None = None  # None: any flow id is accepted

    @classmethod
    def for_customer(cls, settings: Settings, customer: CustomerConfig) -> Rules:
        return cls(
            timezone=settings.customer_timezone(customer),
            limits=settings.limits,
            row_policy=customer.row_policy,
            home_region=customer.home_region,
            default_country_code=customer.default_country_code,
            user_id=customer.user_id,
            flow_ids=frozenset(flow.id for flow in customer.flows),
        )

    @classmethod
    def permissive(cls, settings: Settings | None = None) -> Rules:
        """Any account and flow: what `sftp-watcher validate FILE` checks without --customer."""
        if settings is None:
            return cls(timezone=ZoneInfo(DEFAULT_TIMEZONE), limits=Limits())
        return cls(timezone=ZoneInfo(settings.timezone), limits=settings.limits)
