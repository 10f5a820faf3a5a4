"""MQTT topics from one template: the same template yields the filter and the parser."""

from __future__ import annotations

import re
from dataclasses import dataclass

TTS_TEMPLATE = "v3/{application}/devices/{device}/{event}"
CHIRPSTACK_TEMPLATE = "application/{application}/device/{device}/event/{event}"

_FIELDS = ("application", "device", "event")


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """What a topic says about its message."""

    application: str
    device: str
    event: str


class TopicTemplate:
    """A topic layout with ``{application}``, ``{device}`` and ``{event}`` placeholders."""

    def __init__(self, template: str) -> None:
        for f in _FIELDS:
            if "{" + f + "}" not in template:
                raise ValueError(f"topic template {template!r} lacks {{{f}}}")
        self.template = template
        pattern = re.escape(template)
        for f in _FIELDS:
            group = r"(?P<event>.+)" if f == "event" else rf"(?P<{f}>[^/]+)"
            pattern = pattern.replace(re.escape("{" + f + "}"), group)
        self._regex = re.compile("^" + pattern + r"\Z")

    def filter(self, application: str = "+", device: str = "+", event: str = "up") -> str:
        """The subscription filter (``+`` wildcards where not fixed)."""
        return self.template.format(application=application, device=device, event=event)

    def parse(self, topic: str) -> TopicMatch | None:
        """Split a topic into its parts, or None when it does not follow the template."""
        m = self._regex.match(topic)
        if m is None:
            return None
        return TopicMatch(m["application"], m["device"], m["event"])
