"""The agency gateway: each agency's own inbox over HTTP (list, live stream,
acknowledge, answer), read from the inbox topics under the gateway's own Kafka
principal. Its parts (console, public feed, tips, webhooks) mount themselves
on the app (app.create_app's `mounts`)."""
