"""A local stand-in for the Upload-Post API, faults included, for tests, benchmarks and
`queuelabs dev`. No service imports it: it is reached only over HTTP, as the real API is."""
