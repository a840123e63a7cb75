"""Notifications: e-mail over SMTP and signed webhooks, sent from a stored outbox by the server's
scheduler thread, and the scheduled reports it sends.

``texts`` holds the words; ``mail`` and ``webhook`` send one message; ``reports`` says when a
report is due and writes it; ``notifier`` queues, schedules, delivers with retries and audits.
The outbox and subscriptions live in the metadata store (``store/notify.py``).
"""
