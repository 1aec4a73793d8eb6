"""Published policies: versions per product line, the live one, lint, golden tests, publishing."""
