"""A local stand-in for the Google Cloud APIs platform-admin calls.

It speaks the REST/gRPC wire formats of Cloud Run Admin v2, Cloud Monitoring v3,
Compute Engine v1, the Cloud Billing Catalog v1 and BigQuery v2, so the official
client libraries run unchanged against it. It imports nothing from the Django app.
"""
