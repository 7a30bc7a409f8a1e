"""The reference system's HTTP endpoint declarations.

Endpoints are declared (input model, target actor and message, output model)
once the HTTP front lands; the demo system has none yet.
"""
