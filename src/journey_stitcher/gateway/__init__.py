"""The HTTP ingest gateway: vendor webhooks → adapters → Kafka `interactions` (SPEC §10).

    app.py       the aiohttp application: `POST /v1/ingest/<adapter>`, `/healthz`, `/readyz`
    auth.py      who may post to which endpoint: per-vendor signatures, secrets from Settings
    producer.py  the idempotent producer; returns only once Kafka acknowledged every record
    files.py     vendor payload files through an adapter (`publish --adapter NAME FILE`)
    main.py      runs it (`journey-stitcher gateway`)
"""
