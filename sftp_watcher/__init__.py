"""sftp-watcher: call-list files dropped on SFTP become outbound calling campaigns on Phonon."""

__version__ = "0.1.0"
