pytest_plugins = ["tests.mailbox.rig"]
