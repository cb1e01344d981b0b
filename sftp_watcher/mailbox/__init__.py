"""The mailbox door (SPEC 11): call lists emailed to a flow's address, read over IMAP.

A message is routed to a flow by its recipients, its sender checked against the
customer's allowlist (and the trusted ``Authentication-Results``), each ``.csv``/``.zip``
attachment staged in the spool and handed to the shared ``Pipeline``; the message is moved
to ``Success``/``Failure``/``Rejected`` once its uploads are recorded done, and the sender
gets one RFC 3834 answer through the outbox.
"""
