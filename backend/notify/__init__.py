"""Telling other systems about runs: webhooks (issue 18).

payload.py (bodies, signature, headers; pure)  send.py (one POST, what it answered)
notifier.py (hears the bus in the scheduler's process; a thread and a queue per webhook)
"""
