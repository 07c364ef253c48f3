"""Adapters behind the ports: `memory` for `newsdrop build`, `aws` for Lambda, the local stack and moto."""
