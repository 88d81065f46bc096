"""HTTP face: hook ingest (POST /notify), health, and the API the CLI talks to.

A face: imports services, core and infrastructure; holds no SQL, SSH or retry loop.
"""
