"""The Object Service's ASGI middleware, one concern per module (``app.py`` stacks them):
:mod:`~.fence` (the roots storage may touch), :mod:`~.token` (the bearer token),
:mod:`~.body_limit` (request size), :mod:`~.errors` (the catch-all 500), :mod:`~.cors` (the
dashboard's origin); :mod:`~.static_headers` serves the Dashboard Service."""
