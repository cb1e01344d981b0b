"""The account holder's email (SPEC 8): render a notice, hand it to SMTP or a folder."""

from sftp_watcher.notify.message import UploadNotice, render, render_test_email, subject_for
from sftp_watcher.notify.send import FileSender, MailSender, SmtpSender, make_sender

__all__ = [
    "FileSender",
    "MailSender",
    "SmtpSender",
    "UploadNotice",
    "make_sender",
    "render",
    "render_test_email",
    "subject_for",
]
