"""Keeping secrets out of logs, XCom, events and errors: the ground floor every other module stands on.

It imports nothing else of the provider, so the exceptions can scrub their own text.
"""
