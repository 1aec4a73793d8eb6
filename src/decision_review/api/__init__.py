"""The HTTP API: `create_app(settings)` (api.app), its dependencies (api.deps), errors (api.errors)."""
