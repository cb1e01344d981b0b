"""Shared fixtures. Real servers live in tests/servers/, one module each, loaded as plugins."""

pytest_plugins = [
    "tests.servers.sshd",
    "tests.servers.phonon_stub",
    "tests.servers.smtp",
    "tests.servers.postgres",
    "tests.servers.rig",
]
