"""HTTP face: hook ingest (`POST /notify`), health, and the API the CLI talks to."""
