"""The operations surface: metrics, health and readiness, consumer lag, graceful shutdown (SPEC §9)."""
