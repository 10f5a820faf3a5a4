"""Crews' and makers' views: what a bin, street-light or boat fleet looks like right now.

The math (fill rates, predictions, routes, silence, geofences) is pure functions over
readings in :mod:`.bins`, :mod:`.lights`, :mod:`.boats` and :mod:`.activity`; :mod:`.fleet`
reads the registry and a store to feed them, for the API routes and the web page alike.
"""
