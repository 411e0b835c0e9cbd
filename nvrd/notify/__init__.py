"""Notifications: events sent out of the box, to an MQTT broker (Home Assistant-friendly
topics, retained states, discovery) and to HTTP webhooks. Each sender is a bus listener
that only queues (the event path never waits on the network). See docs/design/notify.md.
"""
