"""Lorakeet: a backend for community LoRaWAN sensor networks."""

__version__ = "0.1.0"
