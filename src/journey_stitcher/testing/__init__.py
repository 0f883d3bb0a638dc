"""Test helpers shared by the test suites: where the real Kafka and Redis live."""
