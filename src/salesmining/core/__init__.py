"""Foundations every layer may use; imports nothing else from salesmining.

``errors`` (the exception tree), ``schema`` (canonical column names), ``formatting`` (every
duration, percentage and count shown to a person), ``html`` (escaped notebook building blocks),
``calendar`` (business calendars: working time), ``version``.
"""
