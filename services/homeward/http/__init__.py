"""The HTTP side every Homeward web service shares (intake, the agency gateway):
who is calling and may they (auth.py), one error contract (errors.py) and the
body guard in front of the app (guard.py)."""
