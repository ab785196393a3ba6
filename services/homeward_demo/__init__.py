"""The demo: starts the broker and every service, plays a synthetic case."""
