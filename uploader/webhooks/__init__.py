"""Webhooks per the Standard Webhooks specification: signing, the targets allowed, the retry
schedule and what an attempt's answer means (pure), and the endpoints' management."""
