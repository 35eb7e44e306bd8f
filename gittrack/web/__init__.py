"""The one HTTP layer under ``gittrack ui`` and ``gittrack server``.

Standard library only (:mod:`http.server`, threads, optional pre-forked workers): the UI
and MLflow's REST API are sets of routes (:class:`gittrack.web.http.Router`) mounted on one
:class:`gittrack.web.serve.WebServer`, which checks the Host header (DNS rebinding), guards
state-changing requests (per-process token, or requests a browser cannot send cross-site
without a CORS preflight), optional authentication, and maps errors to JSON.
Nothing in the library imports this package.
"""
