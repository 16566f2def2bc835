"""The HTTP layer: parse, authorize, call a service, render. No business logic lives here."""
