"""Homeward intake: the HTTP front door where police systems put alerts,
rescues and DNA comparisons on the bus, agencies answer their referrals,
mandatory reporters file reports, and a case's timeline is read back.

`python -m homeward_intake` serves it; `homeward_intake.client.IntakeClient` calls it.
"""
