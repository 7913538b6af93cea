"""The HTTP edge: ASGI app, /v2 routes, ping; maps domain errors to wire formats."""
