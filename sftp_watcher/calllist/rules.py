"""The rules a call list is judged by: one customer's, or the permissive ones of `validate`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from sftp_watcher.calling_hours import CallingHours
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
    # (flow id, declared variables) of the flows that declare them (SPEC 5).
    flow_variables: tuple[tuple[str, tuple[str, ...]], ...] = ()
    calling_hours: CallingHours | None = None  # in ``timezone``; None: any time

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
            flow_variables=tuple(
                (flow.id, tuple(flow.variables))
                for flow in customer.flows
                if flow.variables is not None
            ),
            calling_hours=(
                None
                if customer.calling_hours is None
                else CallingHours.parse(customer.calling_hours)
            ),
        )

    def declared_variables(self, flow_id: str) -> tuple[str, ...] | None:
        """The flow's declared variables; None when it declares none (any header goes)."""
        return next((names for flow, names in self.flow_variables if flow == flow_id), None)

    @classmethod
    def permissive(cls, settings: Settings | None = None) -> Rules:
        """Any account and flow: what `sftp-watcher validate FILE` checks without --customer."""
        if settings is None:
            return cls(timezone=ZoneInfo(DEFAULT_TIMEZONE), limits=Limits())
        return cls(timezone=ZoneInfo(settings.timezone), limits=settings.limits)
