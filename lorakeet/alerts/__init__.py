"""Alerts: rules evaluated as uplinks arrive, delivered to webhooks and MQTT topics.

:mod:`.rules` decides (pure), :mod:`.engine` watches the pipeline and keeps state,
:mod:`.delivery` sends (signed webhooks with retries, MQTT publishes) off the ingest path.
"""
