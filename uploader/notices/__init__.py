"""Hearing Upload-Post: its webhooks (a job's end, an account's connection) received over HTTP,
read into the Uploader's terms and kept; polling stays the fallback for what never comes."""
