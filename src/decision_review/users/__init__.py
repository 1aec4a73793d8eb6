"""Users, bearer tokens (stored hashed), roles and product-line limits, and the role matrix."""
