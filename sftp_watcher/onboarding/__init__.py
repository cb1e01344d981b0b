"""``setup-test``, the onboarding engineer's one command: connect, check the folders, prove
file operations, check each flow against Phonon and optionally send a test email.
"""

from sftp_watcher.onboarding.report import Check, SetupReport, Status
from sftp_watcher.onboarding.run import run_setup_test

__all__ = ["Check", "SetupReport", "Status", "run_setup_test"]
