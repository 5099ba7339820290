"""The networks: registry, weights, feature extraction, device and preparation."""
