"""The template CSV (SPEC 10): header only, the flow's variables between numbers and time."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sftp_watcher.calllist.template import template_csv
from sftp_watcher.config import FlowConfig


def _flow(variables: list[str] | None) -> FlowConfig:
    return FlowConfig(id="o9vJavuB", security_id="s" * 64, variables=variables)


def test_template_is_the_header_with_the_declared_variables():
    assert template_csv(_flow(["Name", "Amount"])) == b"tel1,tel2,tel3,Name,Amount,starttime\r\n"


def test_template_without_declared_variables_has_numbers_and_start_time_only():
    assert template_csv(_flow(None)) == b"tel1,tel2,tel3,starttime\r\n"


def test_declared_variables_are_stored_without_the_flow_key_prefix():
    flow = _flow(["$flow.key.Name", " Amount "])
    assert flow.variables == ["Name", "Amount"]
    assert template_csv(flow) == b"tel1,tel2,tel3,Name,Amount,starttime\r\n"


def test_declared_variables_must_be_distinct_plain_names():
    for bad in (["Name", "$flow.key.Name"], ["tel1"], ["starttime"], [" "], ["Na\nme"]):
        with pytest.raises(ValidationError):
            _flow(bad)
