"""Typed commands, queries and replies, one module per service.

A service validates what it receives with these models, the gateway derives its request and
response bodies from them (`*Base` holds the fields and their limits, `*Create`/`*Changes` the REST
body, the bus command adds the ids the URL carries, `*Public` the reply), and the SDK builds its
requests with them, so a limit is stated once and every side enforces the same one.
"""
