"""Property (SPEC 3): whatever bytes under whatever names land in a local account's
Upload/, one poll ends every file in Success/ or Failure/ with one email, and nothing is
left claimed. Real Phonon stub; emails written by the file backend."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sftp_watcher.config import settings_from_mapping
from sftp_watcher.naming import is_not_ready_name
from sftp_watcher.service import Service
from tests.servers.phonon_stub import PhononStub
from tests.servers.rig import FLOW_ID, SECRET, USER_ID, csv_text, mobile, tomorrow_at

_START = f"{tomorrow_at(10):%d%m%Y%H%M%S}"
_VALID_NAMES = [
    f"C{USER_ID}_{FLOW_ID}.csv",
    f"C{USER_ID}_{FLOW_ID}_upload_{_START}.csv",
    f"C{USER_ID}_{FLOW_ID}.zip",
    f"C{USER_ID}_other.csv",
    f"C1_{FLOW_ID}.CSV",
]


def _plain_name(name: str) -> bool:
    return (
        not is_not_ready_name(name)
        and name not in {".", ".."}
        and len(name.encode()) <= 240
        and not name.startswith("~")
    )


names = st.one_of(
    st.sampled_from(_VALID_NAMES),
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
        min_size=1,
        max_size=120,
    ).filter(_plain_name),
    # Long names: the claim adds 64 bytes to them.
    st.integers(150, 236).map(lambda n: f"C{USER_ID}_" + "x" * (n - 12) + ".csv"),
)
contents = st.one_of(
    st.binary(max_size=3000),
    st.lists(st.integers(0, 10**6), max_size=5).map(lambda ns: csv_text(*map(mobile, ns))),
    st.text(max_size=2000).map(lambda t: "tel1,Name\n" + t),
    # Inputs no rule foresaw: a header past int()'s digit limit, a row over 256 KB.
    st.integers(4300, 6000).map(lambda n: "tel" + "1" * n + "\n" + mobile(1) + "\n"),
    st.integers(1, 3).map(lambda n: f"tel1,Name\n{mobile(n)},{'x' * 270_000}\n"),
)
uploads = st.dictionaries(names, contents, min_size=1, max_size=4)


@pytest.mark.timeout(600)
@settings(
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=uploads)
def test_every_file_ends_with_one_email(
    phonon_stub: PhononStub, files: dict[str, bytes | str]
) -> None:
    phonon_stub.register_flow(FLOW_ID, SECRET)
    with tempfile.TemporaryDirectory(prefix="every-file-ends-") as tmp:
        root = Path(tmp)
        account = root / "account"
        for folder in ("Upload", "Success", "Failure"):
            (account / folder).mkdir(parents=True)
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            (account / "Upload" / name).write_bytes(data)
        mapping = {
            "min_file_age_seconds": 0,
            "duplicate_window_hours": 0,
            "state_url": f"sqlite:///{root / 'state.db'}",
            "metrics_port": None,
            "phonon": {
                "realtime_base_url": phonon_stub.realtime_url,
                "bulk_base_url": phonon_stub.bulk_url,
                "timeout_seconds": 2,
                "retry_budget_seconds": 4,
            },
            "email": {"backend": "file", "file_dir": str(root / "outbox")},
            "customers": [
                {
                    "id": "acme",
                    "user_id": USER_ID,
                    "emails": ["ops@acme.example"],
                    "source": {"kind": "local", "path": str(account), "watch": False},
                    "flows": [{"id": FLOW_ID, "type": "dialer", "security_id": SECRET}],
                }
            ],
        }
        with Service(settings_from_mapping(mapping)) as service:
            result = service.poll_once()
        assert [s.error for s in result.sweeps] == [None]
        assert list((account / "Upload").iterdir()) == []
        ended = Counter(
            p.name
            for folder in ("Success", "Failure")
            for p in (account / folder).iterdir()
            if not p.name.endswith(".errors.csv") or p.name[: -len(".errors.csv")] not in files
        )
        assert ended == Counter(list(files))
        assert len(list((root / "outbox").glob("*.eml"))) == len(files)
