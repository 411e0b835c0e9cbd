"""Developer tools: virtual cameras, the demo, benchmarks."""
