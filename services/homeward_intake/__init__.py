"""Homeward intake: the HTTP front door where police systems put alerts on the bus.

`python -m homeward_intake` serves it; `homeward_intake.client.IntakeClient` calls it.
"""
