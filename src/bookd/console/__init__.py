"""The admin console: server-rendered pages at `/` over the same services as the API."""
